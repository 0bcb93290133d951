pub mod plugin;
pub mod v2_host;
