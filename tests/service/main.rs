//! `taskyard service` as an operator runs it: the real binary writes its systemd unit into a temporary directory
//! and drives a `systemctl` stand-in that records its arguments. The units it writes pass `systemd-analyze verify`
//! where that program is installed, and the packaged `dist/taskyard.service` is what `--print` writes for the
//! packaged paths.

mod harness;

use harness::{Machine, binary, succeeded, verify, write};

/// drain_seconds + kill_grace_seconds + 15 s for handing jobs back and stopping the HTTP server.
const CONFIG: &str = "drain_seconds = 60\nkill_grace_seconds = 7\n";

#[test]
fn print_shows_the_unit_and_changes_nothing() {
    let machine = Machine::new();
    std::fs::create_dir(machine.path("data")).expect("data dir");
    let db = machine.path("data/jobs.db");
    write(&machine.path("taskyard.toml"), &format!("{CONFIG}database_url = \"sqlite://{}?mode=rwc\"\n", db.display()));

    // A relative --config is written as an absolute path.
    let unit = machine.ok(&["service", "install", "--print", "--config", "taskyard.toml"]);
    let config = machine.path("taskyard.toml");
    let data = machine.path("data");
    let expected = [
        format!("ExecStart=\"{}\" serve --config \"{}\"", binary().display(), config.display()),
        "Restart=on-failure".into(),
        "KillMode=mixed".into(),
        "KillSignal=SIGTERM".into(),
        "TimeoutStopSec=82".into(),
        "NoNewPrivileges=yes".into(),
        "ProtectSystem=strict".into(),
        "ProtectHome=read-only".into(),
        "PrivateTmp=yes".into(),
        format!("ReadWritePaths=\"{}\"", data.display()),
        "StateDirectory=taskyard".into(),
        "WorkingDirectory=%S/taskyard".into(),
        "WantedBy=multi-user.target".into(),
    ];
    for line in &expected {
        assert!(unit.lines().any(|l| l == line), "no line {line:?} in\n{unit}");
    }
    assert!(!machine.unit_dir.exists(), "--print wrote the unit directory");
    assert!(machine.systemctl_calls().is_empty(), "--print ran systemctl: {:?}", machine.systemctl_calls());
    verify(&unit);

    // Without a config file, the defaults: 30 s drain, 5 s kill grace.
    let unit = machine.ok(&["service", "install", "--print"]);
    let exec = format!("ExecStart=\"{}\" serve", binary().display());
    assert!(unit.lines().any(|l| l == exec), "no line {exec:?} in\n{unit}");
    assert!(unit.lines().any(|l| l == "TimeoutStopSec=50"), "{unit}");
    assert!(
        !unit.lines().any(|l| l.starts_with("ReadWritePaths=")),
        "a relative database lies in the state directory:\n{unit}"
    );
    verify(&unit);

    // PostgreSQL or an in-memory database: no file, so no directory to open.
    for url in ["postgres://postgres@127.0.0.1:5432/taskyard", "sqlite::memory:"] {
        write(&config, &format!("database_url = \"{url}\"\n"));
        let unit = machine.ok(&["service", "install", "--print", "--config", "taskyard.toml"]);
        assert!(!unit.lines().any(|l| l.starts_with("ReadWritePaths=")), "{url}:\n{unit}");
    }
}

#[test]
fn the_packaged_unit_is_what_print_writes_for_the_packaged_paths() {
    let machine = Machine::new();
    let config = machine.path("taskyard.toml");
    write(&config, "");
    let config_arg = config.display().to_string();
    let printed = machine.ok(&["service", "install", "--print", "--config", &config_arg]);
    let packaged = printed
        .replace(&format!("\"{}\"", binary().display()), "\"/usr/bin/taskyard\"")
        .replace(&format!("\"{config_arg}\""), "\"/etc/taskyard/taskyard.toml\"");
    let dist = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/taskyard.service"))
        .expect("read dist/taskyard.service");
    assert_eq!(
        dist, packaged,
        "dist/taskyard.service differs from `taskyard service install --print --config /etc/taskyard/taskyard.toml` \
         run as /usr/bin/taskyard; regenerate it"
    );
}

#[test]
fn install_status_and_uninstall_drive_systemctl() {
    let machine = Machine::new();
    let config = machine.path("taskyard.toml");
    write(&config, CONFIG);
    let config_arg = config.display().to_string();
    let printed = machine.ok(&["service", "install", "--print", "--config", &config_arg]);

    let said = machine.ok(&["service", "install", "--config", &config_arg]);
    assert!(said.contains(&machine.unit_file().display().to_string()), "{said}");
    let written = std::fs::read_to_string(machine.unit_file()).expect("the unit was written");
    assert_eq!(written, printed, "install wrote another unit than --print shows");
    assert_eq!(machine.systemctl_calls(), ["daemon-reload", "enable --now taskyard.service"]);

    let status = machine.ok(&["service", "status"]);
    let exec = format!("\"{}\" serve --config \"{config_arg}\"", binary().display());
    let want = format!(
        "unit: {} (installed)\nruns: {exec}\nenabled: enabled\nactive: active\n",
        machine.unit_file().display()
    );
    assert_eq!(status, want);

    // A query systemctl fails (such as for a unit it does not know) is shown as its view, not hidden.
    let args = ["service", "status"];
    let output = machine.taskyard(&args).env("FAKE_SYSTEMCTL_FAIL", "Unit taskyard.service not found.").output();
    let status = succeeded(&output.expect("run taskyard"), &args);
    for label in ["enabled", "active"] {
        let shown = status.lines().any(|l| l.starts_with(&format!("{label}: unknown (")) && l.ends_with("not found.)"));
        assert!(shown, "no `{label}: unknown (...)` line in\n{status}");
    }

    machine.ok(&["service", "uninstall"]);
    assert!(!machine.unit_file().exists(), "uninstall left the unit");
    assert_eq!(
        machine.systemctl_calls()[2..],
        [
            "is-enabled taskyard.service",
            "is-active taskyard.service",
            "is-enabled taskyard.service",
            "is-active taskyard.service",
            "disable --now taskyard.service",
            "daemon-reload"
        ]
    );
    let status = machine.ok(&["service", "status"]);
    assert!(status.starts_with(&format!("unit: {} (not installed)\n", machine.unit_file().display())), "{status}");
}

#[test]
fn a_user_unit_goes_to_the_user_manager_and_its_config_directory() {
    let machine = Machine::new();
    let xdg = machine.path("xdg");
    let home = machine.path("home");
    let unit = machine.ok(&["service", "install", "--user", "--print"]);
    for line in ["WantedBy=default.target", "NoNewPrivileges=yes", "KillMode=mixed", "TimeoutStopSec=50"] {
        assert!(unit.lines().any(|l| l == line), "no line {line:?} in\n{unit}");
    }
    assert!(!unit.contains("ProtectSystem="), "a user manager cannot apply it without a user namespace:\n{unit}");
    verify(&unit);

    let run = |env: &[(&str, &std::path::Path)], args: &[&str]| {
        let mut command = machine.taskyard(args);
        command.env_remove("TASKYARD_UNIT_DIR");
        for (name, value) in env {
            command.env(name, value);
        }
        succeeded(&command.output().expect("run taskyard"), args)
    };
    run(&[("XDG_CONFIG_HOME", &xdg), ("HOME", &home)], &["service", "install", "--user"]);
    assert!(xdg.join("systemd/user/taskyard.service").is_file(), "not under $XDG_CONFIG_HOME/systemd/user");
    assert_eq!(machine.systemctl_calls(), ["--user daemon-reload", "--user enable --now taskyard.service"]);

    run(&[("HOME", &home)], &["service", "install", "--user"]);
    assert!(home.join(".config/systemd/user/taskyard.service").is_file(), "not under ~/.config/systemd/user");
    run(&[("HOME", &home)], &["service", "uninstall", "--user"]);
    assert!(!home.join(".config/systemd/user/taskyard.service").exists(), "uninstall --user left the unit");
}

#[test]
fn paths_with_spaces_specifiers_variables_and_quotes_add_no_directive() {
    let machine = Machine::new();
    let odd = machine.path("a b%n$HOME\"q\\z;x");
    std::fs::create_dir(&odd).expect("odd dir");
    let config = odd.join("taskyard.toml");
    let db = odd.join("taskyard.db").display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
    write(&config, &format!("database_url = \"sqlite://{db}?mode=rwc\"\n"));
    let config_arg = config.display().to_string();
    let unit = machine.ok(&["service", "install", "--print", "--config", &config_arg]);
    let exec = format!(
        "ExecStart=\"{}\" serve --config \"{}/a b%%n$$HOME\\\"q\\\\z;x/taskyard.toml\"",
        binary().display(),
        machine.dir.path().display()
    );
    assert!(unit.lines().any(|l| l == exec), "no line {exec:?} in\n{unit}");
    let rw = format!("ReadWritePaths=\"{}/a b%%n$HOME\\\"q\\\\z;x\"", machine.dir.path().display());
    assert!(unit.lines().any(|l| l == rw), "no line {rw:?} in\n{unit}");
    verify(&unit);

    // A newline cannot be written safely into a unit line: it is refused, and nothing is written.
    let injected = machine.path("x\nExecStartPre=false");
    std::fs::create_dir(&injected).expect("dir with a newline");
    write(&injected.join("taskyard.toml"), "");
    let arg = injected.join("taskyard.toml").display().to_string();
    let output = machine.taskyard(&["service", "install", "--config", &arg]).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("control character") && stderr.lines().count() == 1, "{stderr}");
    assert!(!machine.unit_dir.exists() && machine.systemctl_calls().is_empty(), "something was changed");
}

/// Arguments, environment (`None`: removed), what the message must say.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, Option<&'a str>)], &'a str);

#[test]
fn bad_arguments_give_one_line_errors() {
    let machine = Machine::new();
    let dir = machine.path("conf.d");
    std::fs::create_dir(&dir).expect("dir");
    write(&machine.path("broken.toml"), "drain_seconds = \n[[");
    write(&machine.path("invalid.toml"), "lease_seconds = 0\n");
    write(&machine.path("unknown.toml"), "drain_secs = 5\n");
    write(&machine.path("grace.toml"), &format!("kill_grace_seconds = {}\n", i64::MAX));
    write(&machine.path("nodir.toml"), "database_url = \"sqlite:///nonexistent/dir/t.db?mode=rwc\"\n");
    std::fs::File::create(machine.path("huge.toml")).and_then(|f| f.set_len(1 << 30)).expect("sparse file");
    write(&machine.path("good.toml"), "");
    let empty_dir = machine.path("empty");
    std::fs::create_dir(&empty_dir).expect("dir");
    let no_systemctl = empty_dir.to_str().expect("UTF-8 temp dir");

    let cases: &[Case] = &[
        (&["service", "install", "--print", "--config", "missing.toml"], &[], "No such file"),
        (&["service", "install", "--print", "--config", "conf.d"], &[], "not a regular file"),
        (&["service", "install", "--print", "--config", "broken.toml"], &[], "is not valid"),
        (&["service", "install", "--print", "--config", "invalid.toml"], &[], "lease_seconds"),
        (&["service", "install", "--print", "--config", "unknown.toml"], &[], "drain_secs"),
        (&["service", "install", "--print", "--config", "grace.toml"], &[], "kill_grace_seconds"),
        (&["service", "install", "--print", "--config", "nodir.toml"], &[], "/nonexistent/dir does not exist"),
        (&["service", "install", "--print", "--config", "huge.toml"], &[], "larger than"),
        (
            &["service", "install", "--user"],
            &[("XDG_CONFIG_HOME", Some("relative/dir")), ("TASKYARD_UNIT_DIR", None)],
            "XDG_CONFIG_HOME must be an absolute path",
        ),
        (&["service", "uninstall"], &[], "nothing to uninstall"),
        (&["service", "install"], &[("FAKE_SYSTEMCTL_FAIL", Some("Access denied"))], "but systemctl did not start it"),
        (&["service", "install"], &[("PATH", Some(no_systemctl))], "--print"),
        (&["service", "status"], &[("PATH", Some(no_systemctl))], "systemctl is not on PATH"),
    ];
    let mut failures = Vec::new();
    for (args, env, want) in cases {
        let mut command = machine.taskyard(args);
        for (name, value) in *env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
        let output = command.output().expect("run taskyard");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let one_line = stderr.lines().count() == 1 && stderr.starts_with("taskyard service: ");
        if output.status.code() != Some(1) || !one_line || !stderr.contains(want) {
            failures.push(format!(
                "{args:?} {env:?}: {}, stderr {stderr:?} (wanted one line with {want:?})",
                output.status
            ));
        }
    }
    // An option where a value belongs, or an empty value, is clap's usage error.
    let usage: &[(&[&str], &str)] = &[
        (&["service", "install", "--config", "--print"], "a value is required for '--config <FILE>'"),
        (&["service", "install", "--print", "--config", ""], "a value is required for '--config <FILE>'"),
        (&["service", "status", "--unit-dir", ""], "a value is required for '--unit-dir <DIR>'"),
        (&["service", "install", "--print", "--bogus"], "unexpected argument '--bogus'"),
    ];
    for (args, want) in usage {
        let output = machine.taskyard(args).output().expect("run taskyard");
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() != Some(2) || !stderr.starts_with(&format!("error: {want}")) {
            failures.push(format!("{args:?}: {}, stderr {stderr:?}", output.status));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
