//! A throwaway `redis-server` on a free loopback port, for tests and benchmarks: a real server,
//! never a mock.
//!
//! Tests that need one call [`RedisServer::start`]; when no `redis-server` can be found it says
//! why, and the test prints that it was skipped (object_store's convention for its cloud
//! integration tests). The binary is `$CLOUDPHONE_TEST_REDIS` if set, else `redis-server` on
//! `PATH`.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The variable naming the `redis-server` binary to use.
pub const ENV: &str = "CLOUDPHONE_TEST_REDIS";

/// A `redis-server` child process on `127.0.0.1`, killed on drop. It keeps nothing on disk.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

/// Where the `redis-server` binary is, or why there is none.
pub fn binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(ENV).filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("{ENV}={} is not a file", path.display()))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("redis-server"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!("no `redis-server` on PATH and {ENV} is not set (apt-get install redis-server)")
        })
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits (up to 10 s) until it accepts
    /// connections. `Err` says why not (no binary, or it would not start).
    pub fn start() -> Result<RedisServer, String> {
        let bin = binary()?;
        let mut last = String::new();
        // A free port can be taken by someone else before the server binds it: try again.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| format!("no free loopback port: {e}"))?
                .port();
            let child = Command::new(&bin)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--dir", &std::env::temp_dir().to_string_lossy()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
            let mut server = RedisServer {
                child: Some(child),
                port,
            };
            match server.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return Ok(server),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn wait_ready(&mut self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("redis-server exited at start ({status})"));
                }
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "redis-server did not listen on port {} within {within:?}",
            self.port
        ))
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL, database 0.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills it now (to see what a store that went away does).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
