//! What the binary's end-to-end tests share: how the `cloudphone` binary is started, and how
//! a test waits for it to end.

// Each test file compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `cloudphone` binary, run in `dir`: no `RUST_LOG` from the caller's environment, stdin
/// closed, and the journal's default location under `dir` — never the real state directory.
pub fn cloudphone(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cloudphone"));
    cmd.env_remove("RUST_LOG")
        .env("XDG_STATE_HOME", dir.join("state"))
        .current_dir(dir)
        .stdin(Stdio::null());
    cmd
}

/// Waits (bounded: the child is killed and the test fails after `limit`) for the child to
/// exit; returns its exit code (minus the signal's number when a signal ended it) and its
/// stderr.
pub fn wait_exit(child: &mut Child, limit: Duration) -> (i32, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                e.read_to_string(&mut err).unwrap();
            }
            #[cfg(unix)]
            let code = {
                use std::os::unix::process::ExitStatusExt;
                status
                    .code()
                    .unwrap_or_else(|| -status.signal().unwrap_or(0))
            };
            #[cfg(not(unix))]
            let code = status.code().unwrap_or(-1);
            return (code, err);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the command did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
