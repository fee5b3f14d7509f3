//! The `mychat` command line, run as a real process against a temp data dir.

use std::process::Command;

fn mychat(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mychat"));
    cmd.env("MYCHAT_ENV", "test")
        .env("MYCHAT_DATA_DIR", data_dir)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env("MYCHAT_ADMIN_PASSWORD", "initial-pass-1");
    cmd
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["admin", "reset-password", "--help"],
        vec!["admin", "rotate-chat-key", "--help"],
        vec!["seed-demo", "--help"],
    ] {
        let out = mychat(dir.path()).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
}

#[test]
fn reset_password_changes_the_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = mychat(dir.path()).arg("migrate").output().unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let out = mychat(dir.path())
        .args([
            "admin",
            "reset-password",
            "admin",
            "--password",
            "changed-pass-2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let missing = mychat(dir.path())
        .args([
            "admin",
            "reset-password",
            "nobody",
            "--password",
            "changed-pass-2",
        ])
        .output()
        .unwrap();
    assert!(!missing.status.success());

    let generated = mychat(dir.path())
        .args(["admin", "reset-password", "admin"])
        .env_remove("MYCHAT_NEW_PASSWORD")
        .output()
        .unwrap();
    assert!(generated.status.success());
    let stdout = String::from_utf8_lossy(&generated.stdout);
    assert!(stdout.contains("New password for admin: "), "{stdout}");
}

#[test]
fn seed_demo_creates_accounts_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = mychat(dir.path()).arg("seed-demo").output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("demo_user"), "{stdout}");
    assert!(stdout.contains("counselor 李静"), "{stdout}");
    let second = mychat(dir.path()).arg("seed-demo").output().unwrap();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stdout).contains("nothing new"));
}
