//! The engine's settings reach the binary through flags, `TASKYARD_*` variables and the TOML file, and are
//! validated at start: a bad value stops the server with a message naming the setting.

use std::sync::Arc;

use crate::helpers::{sqlite_url, try_serve};

/// (flag, environment variable, an invalid value, the setting's name).
const INVALID: &[(&str, &str, &str, &str)] = &[
    ("--lease-seconds", "TASKYARD_LEASE_SECONDS", "0", "lease_seconds"),
    ("--drain-seconds", "TASKYARD_DRAIN_SECONDS", "100000", "drain_seconds"),
    ("--retention-days", "TASKYARD_RETENTION_DAYS", "-1", "retention_days"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_engine_settings_stop_the_server_naming_the_setting() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let url = sqlite_url(dir.path());
    let mut failures = Vec::new();
    for (flag, variable, value, name) in INVALID {
        let as_flag = format!("{flag}={value}");
        let attempts = [
            (as_flag.clone(), try_serve(&url, &[&as_flag], &[]).await),
            (format!("{variable}={value}"), try_serve(&url, &[], &[(variable, value)]).await),
        ];
        for (how, outcome) in attempts {
            match outcome {
                Ok(mut server) => {
                    server.kill9().await;
                    failures.push(format!("{how}: the server started"));
                }
                Err(refused) if refused.status.is_some_and(|s| s.success()) => {
                    failures.push(format!("{how}: exit status 0; stderr:\n{}", refused.log));
                }
                Err(refused) if !refused.log.contains(name) => {
                    failures.push(format!("{how}: stderr does not name {name}:\n{}", refused.log));
                }
                Err(_) => {}
            }
        }
    }

    // retention_check_seconds is set in the TOML file (it has no flag); so are the others.
    let config = dir.path().join("taskyard.toml");
    std::fs::write(&config, "retention_check_seconds = 0\n").expect("write the config file");
    let config_arg = config.display().to_string();
    match try_serve(&url, &["--config", &config_arg], &[]).await {
        Ok(mut server) => {
            server.kill9().await;
            failures.push("retention_check_seconds = 0: the server started".into());
        }
        Err(refused) if !refused.log.contains("retention_check_seconds") => {
            failures.push(format!("retention_check_seconds = 0: stderr does not name it:\n{}", refused.log));
        }
        Err(_) => {}
    }
    std::fs::write(
        &config,
        "lease_seconds = 3\ndrain_seconds = 2\nretention_days = 0.5\nretention_max_output_bytes = 4096\n\
         retention_check_seconds = 5\n",
    )
    .expect("write the config file");
    match try_serve(&url, &["--config", &config_arg], &[]).await {
        Ok(mut server) => server.kill9().await,
        Err(refused) => failures.push(format!("valid engine keys in the TOML file: did not start:\n{}", refused.log)),
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
