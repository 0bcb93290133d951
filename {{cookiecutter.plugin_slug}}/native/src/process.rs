//! One Python worker process: how it starts, how its end is seen, how it is stopped.
//!
//! A worker is `<venv>/bin/python -m <package>.framework.adapters.bridge_worker` in a session
//! and process group of its own, with the bridge's end of a Unix socketpair as its fd 3 and no
//! other descriptor of the server. A waiter thread per worker blocks in `waitid` on its pid, so
//! a death is seen even when a forked grandchild still holds the socket open; it then kills
//! what is left of the group and records how the worker ended. What the worker prints on
//! stdout and stderr goes to the server's stderr line by line, prefixed with the runner name
//! and the worker's pid; the last few stderr lines are kept for the error of a job it died in.

use crate::identity;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::net::unix::pipe;
use tokio::sync::watch;

/// The environment variable that names the venv the workers run; default: the build's venv.
pub const VENV_VARIABLE: &str = "JOBWORKERP_PYTHON_VENV";
/// The worker reads the channel's descriptor number from this variable.
const FD_VARIABLE: &str = "JOBWORKERP_BRIDGE_FD";
const CHANNEL_FD: i32 = 3;
/// How long a worker asked to stop (SIGTERM) has before it is killed (SIGKILL).
pub const GRACE: Duration = Duration::from_secs(1);
/// How long a dead worker's last stderr lines may take to arrive after its death is seen.
const STDERR_WAIT: Duration = Duration::from_millis(500);
/// What a failed job's error quotes of the worker's stderr.
const TAIL_LINES: usize = 5;
const TAIL_CHARS: usize = 400;
/// A longer line of output is logged in pieces.
const LINE_LIMIT: usize = 4096;
/// `close_range(2)`'s flag: mark the descriptors close-on-exec instead of closing them.
const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// How a worker process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Status(i32),
    Signal(i32),
    /// Its status was taken by someone else (a host that reaps every child).
    Unknown,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Status(code) => write!(f, "exit status {code}"),
            Exit::Signal(signal) => match signal_name(*signal) {
                Some(name) => f.write_str(name),
                None => write!(f, "signal {signal}"),
            },
            Exit::Unknown => f.write_str("unknown cause"),
        }
    }
}

fn signal_name(signal: i32) -> Option<&'static str> {
    Some(match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}

/// The last stderr lines of a worker, and whether its stderr has closed.
struct Tail {
    lines: Mutex<VecDeque<String>>,
    closed: watch::Sender<bool>,
}

/// A running (or ended) worker process.
pub struct Process {
    pub pid: i32,
    /// Set under the lock once the pid is reaped: after that the pid (and group id) may belong
    /// to another process, so no signal is sent.
    reaped: Mutex<bool>,
    exit: watch::Receiver<Option<Exit>>,
    tail: Arc<Tail>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The venv the workers run: `JOBWORKERP_PYTHON_VENV`, else the build's.
pub fn venv() -> PathBuf {
    match std::env::var_os(VENV_VARIABLE) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(identity::BUILD_VENV),
    }
}

fn interpreter(venv: &Path) -> Result<PathBuf, String> {
    if !venv.is_dir() {
        return Err(format!(
            "Python environment {} does not exist",
            venv.display()
        ));
    }
    ["python", "python3"]
        .iter()
        .map(|name| venv.join("bin").join(name))
        .find(|path| path.is_file())
        .ok_or_else(|| format!("Python environment {} has no bin/python", venv.display()))
}

/// Marks every descriptor above the channel close-on-exec. Runs in the forked child, so it
/// makes system calls only.
fn close_above_channel(limit: libc::c_uint) {
    let first = (CHANNEL_FD + 1) as libc::c_uint;
    // SAFETY: plain system calls on this (child) process's own descriptor table.
    unsafe {
        if libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        ) == 0
        {
            return;
        }
        for fd in first..limit {
            let flags = libc::fcntl(fd as i32, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd as i32, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// The descriptor limit, for the fallback of `close_above_channel` (read before the fork).
fn descriptor_limit() -> libc::c_uint {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    if known {
        limit.rlim_cur.min(1 << 20) as libc::c_uint
    } else {
        1 << 16
    }
}

/// Starts a worker process. Call it on the bridge's runtime (a blocking thread of it): the
/// channel and the output pipes are registered with that runtime.
pub fn spawn() -> Result<(Arc<Process>, UnixStream), String> {
    let venv = venv();
    let python = interpreter(&venv)?;
    let (ours, theirs) =
        StdUnixStream::pair().map_err(|error| format!("cannot make a socketpair: {error}"))?;
    let child_end = theirs.as_raw_fd();
    let limit = descriptor_limit();
    let mut command = Command::new(&python);
    command
        .arg("-m")
        .arg(format!(
            "{}.framework.adapters.bridge_worker",
            identity::PACKAGE
        ))
        .env(FD_VARIABLE, CHANNEL_FD.to_string())
        // The runner's prints reach the log as they happen, not when a buffer fills.
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and makes system calls only.
    unsafe {
        command.pre_exec(move || {
            // A session and process group of its own: stopping the worker signals the group,
            // so whatever it forked stops with it.
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            if child_end == CHANNEL_FD {
                let flags = libc::fcntl(CHANNEL_FD, libc::F_GETFD);
                if flags == -1
                    || libc::fcntl(CHANNEL_FD, libc::F_SETFD, flags & !libc::FD_CLOEXEC) == -1
                {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(child_end, CHANNEL_FD) == -1 {
                return Err(io::Error::last_os_error());
            }
            // The server's other descriptors (its gRPC socket, files) stay out of Python.
            close_above_channel(limit);
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start {}: {error}", python.display()))?;
    drop(theirs);
    let pid = child.id() as i32;
    let stdout = child.stdout.take().map(OwnedFd::from);
    let stderr = child.stderr.take().map(OwnedFd::from);
    // The waiter thread reaps the child; `Child` itself neither waits nor kills on drop.
    drop(child);

    let (exit_sender, exit) = watch::channel(None);
    let tail = Arc::new(Tail {
        lines: Mutex::new(VecDeque::new()),
        closed: watch::Sender::new(false),
    });
    let process = Arc::new(Process {
        pid,
        reaped: Mutex::new(false),
        exit,
        tail: tail.clone(),
    });
    let waited = process.clone();
    let waiter = std::thread::Builder::new()
        .name(format!("jwp-bridge-wait-{pid}"))
        .stack_size(64 * 1024)
        .spawn(move || wait(&waited, &exit_sender));
    if let Err(error) = waiter {
        process.signal(libc::SIGKILL);
        return Err(format!("cannot start the bridge's waiter thread: {error}"));
    }
    if let Some(fd) = stdout {
        start_pump(fd, pid, None);
    }
    match stderr {
        Some(fd) => start_pump(fd, pid, Some(tail)),
        None => {
            tail.closed.send_replace(true);
        }
    }
    let channel = ours
        .set_nonblocking(true)
        .and_then(|()| UnixStream::from_std(ours))
        .map_err(|error| {
            process.signal(libc::SIGKILL);
            format!("cannot use the worker's channel: {error}")
        })?;
    Ok((process, channel))
}

/// The waiter thread: blocks until the worker ends, kills what is left of its group, reaps it.
fn wait(process: &Process, exit: &watch::Sender<Option<Exit>>) {
    let pid = process.pid;
    // WNOWAIT leaves the worker a zombie, so its pid (the group's id) is not reused while the
    // group is signalled below.
    let waited = loop {
        // SAFETY: waitid writes into the siginfo it is given.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let done = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if done == 0 {
            break true;
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            break false;
        }
    };
    if !waited {
        // Something else in the host reaps children (SIGCHLD ignored, a waitpid(-1)): watch
        // the pid instead; its status is lost.
        // SAFETY: signal 0 only asks whether the process exists.
        while unsafe { libc::kill(pid, 0) } == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        *lock(&process.reaped) = true;
        exit.send_replace(Some(Exit::Unknown));
        return;
    }
    // SAFETY: the group is the worker's own (setsid), and its leader is not reaped yet.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let ended = {
        let mut reaped = lock(&process.reaped);
        let mut status = 0;
        // SAFETY: reaps our own child.
        let found = unsafe { libc::waitpid(pid, &mut status, 0) };
        *reaped = true;
        if found != pid {
            Exit::Unknown
        } else if libc::WIFSIGNALED(status) {
            Exit::Signal(libc::WTERMSIG(status))
        } else if libc::WIFEXITED(status) {
            Exit::Status(libc::WEXITSTATUS(status))
        } else {
            Exit::Unknown
        }
    };
    exit.send_replace(Some(ended));
}

fn start_pump(fd: OwnedFd, pid: i32, tail: Option<Arc<Tail>>) {
    match pipe::Receiver::from_owned_fd(fd) {
        Ok(receiver) => {
            tokio::spawn(pump(receiver, pid, tail));
        }
        Err(error) => {
            log(pid, &format!("(its output cannot be read: {error})"));
            if let Some(tail) = tail {
                tail.closed.send_replace(true);
            }
        }
    }
}

/// Copies one output pipe of a worker into the server's log, line by line.
async fn pump(mut receiver: pipe::Receiver, pid: i32, tail: Option<Arc<Tail>>) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 8192];
    let line = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        log(pid, &escaped(text));
        if let Some(tail) = &tail {
            let clean: String = text.chars().filter(|c| !c.is_control()).collect();
            if !clean.trim().is_empty() {
                let mut lines = lock(&tail.lines);
                if lines.len() == TAIL_LINES {
                    lines.pop_front();
                }
                lines.push_back(clean.trim().to_string());
            }
        }
    };
    loop {
        let read = match receiver.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        pending.extend_from_slice(&buffer[..read]);
        while let Some(end) = pending.iter().position(|&byte| byte == b'\n') {
            line(&pending[..end]);
            pending.drain(..=end);
        }
        while pending.len() > LINE_LIMIT {
            line(&pending[..LINE_LIMIT]);
            pending.drain(..LINE_LIMIT);
        }
    }
    if !pending.is_empty() {
        line(&pending);
    }
    if let Some(tail) = &tail {
        tail.closed.send_replace(true);
    }
}

/// A line of the worker's output with its control characters escaped (`\x1b`, `\u0085`).
fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            match u32::from(c) {
                code @ 0..=0xff => out.push_str(&format!("\\x{code:02x}")),
                code => out.push_str(&format!("\\u{code:04x}")),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One line into the server's log (the bridge's stderr); a failed write is dropped.
fn log(pid: i32, text: &str) {
    let _ = writeln!(
        io::stderr().lock(),
        "[{} python worker {pid}] {text}",
        identity::NAME
    );
}

impl Process {
    pub fn alive(&self) -> bool {
        self.exit.borrow().is_none()
    }

    /// Signals the worker's whole group, unless the worker is already reaped.
    pub fn signal(&self, signal: i32) {
        let reaped = lock(&self.reaped);
        if !*reaped {
            // SAFETY: the group is the worker's own and its leader is not reaped (checked
            // under the lock the waiter takes to reap it).
            unsafe { libc::kill(-self.pid, signal) };
        }
    }

    /// Stops the worker and its group: SIGTERM now, SIGKILL after `GRACE`. Never blocks.
    pub fn terminate(self: &Arc<Self>) {
        if !self.alive() {
            return;
        }
        self.signal(libc::SIGTERM);
        if let Ok(runtime) = crate::runtime() {
            let process = self.clone();
            runtime.spawn(async move {
                if tokio::time::timeout(GRACE, process.exited()).await.is_err() {
                    process.signal(libc::SIGKILL);
                }
            });
        } else {
            self.signal(libc::SIGKILL);
        }
    }

    /// How the worker ended, once it has.
    pub async fn exited(&self) -> Exit {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(ended) => ended.unwrap_or(Exit::Unknown),
            Err(_) => Exit::Unknown,
        }
    }

    /// The error of a job the worker died in: how it ended and its last stderr lines.
    pub async fn died(&self, during: &str) -> String {
        let exit = self.exited().await;
        // What it wrote just before its end may still be in the pipe.
        let mut closed = self.tail.closed.subscribe();
        let _ = tokio::time::timeout(STDERR_WAIT, closed.wait_for(|closed| *closed)).await;
        format!(
            "python worker died ({exit}) while running '{during}'{}",
            self.last_stderr()
        )
    }

    /// `; last stderr: a | b | c`, bounded, or nothing when the worker wrote none.
    pub fn last_stderr(&self) -> String {
        let lines = lock(&self.tail.lines);
        if lines.is_empty() {
            return String::new();
        }
        let joined = lines.iter().cloned().collect::<Vec<_>>().join(" | ");
        let count = joined.chars().count();
        let text = if count > TAIL_CHARS {
            let kept: String = joined.chars().skip(count - TAIL_CHARS).collect();
            format!("...{kept}")
        } else {
            joined
        };
        format!("; last stderr: {text}")
    }
}

/// A worker process and the bridge's end of its channel. Dropping it stops the process: a
/// worker is handed on (to a job, back to its instance, into the pool) or it ends.
pub struct Worker {
    pub process: Arc<Process>,
    pub channel: UnixStream,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.process.terminate();
    }
}
