pub mod v2_host;
