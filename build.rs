//! Records the git commit seawall is built from, for `seawall --version`:
//! `SEAWALL_COMMIT` from the environment when set (image builds), else
//! `git rev-parse`, else `unknown` (a source tarball).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SEAWALL_COMMIT");
    let commit = std::env::var("SEAWALL_COMMIT").ok().or_else(git_commit);
    if let Some(dir) = git_dir() {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/refs/heads");
    }
    let commit = commit.unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SEAWALL_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn git_commit() -> Option<String> {
    git(&["rev-parse", "--short=12", "HEAD"])
}

fn git_dir() -> Option<String> {
    git(&["rev-parse", "--absolute-git-dir"])
}
