//! `taskyard service`: installs taskyard as a systemd service (`install`, `uninstall`, `status`). The unit's text
//! is [`mod@unit`]; running `systemctl` is `systemctl.rs`. This room only writes and removes one unit file and asks
//! systemctl to act on it; it never touches the database.
mod systemctl;
pub mod unit;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use crate::config::Settings;
use systemctl::Systemctl;
use unit::{Scope, UNIT_NAME, Unit};

/// The largest config file `install` reads.
const CONFIG_MAX_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Write the systemd unit, then `systemctl daemon-reload` and `systemctl enable --now taskyard.service`.
    Install(InstallArgs),
    /// `systemctl disable --now taskyard.service`, remove the unit, `systemctl daemon-reload`.
    Uninstall(Target),
    /// Where the unit is installed, what it runs, and whether systemctl has it enabled and active.
    Status(Target),
}

/// Which manager, and where its unit lives.
#[derive(Debug, Args)]
pub struct Target {
    /// The user's own service manager (`systemctl --user`) instead of the system's.
    #[arg(long)]
    pub user: bool,
    /// The directory of the unit file, for packagers and tests [default: /etc/systemd/system; with --user,
    /// $XDG_CONFIG_HOME/systemd/user, else ~/.config/systemd/user].
    #[arg(long, env = "TASKYARD_UNIT_DIR", value_name = "DIR")]
    pub unit_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub target: Target,
    /// The TOML config file the service runs with (`serve --config FILE`); it must exist and be valid.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the unit to stdout and change nothing.
    #[arg(long)]
    pub print: bool,
}

/// Runs the subcommand; an error is one line on stderr and exit status 1.
pub fn main(args: ServiceArgs) -> ExitCode {
    let done = match args.action {
        Action::Install(args) => install(&args),
        Action::Uninstall(target) => uninstall(&target),
        Action::Status(target) => status(&target),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("taskyard service: {}", one_line(&format!("{err:#}")));
            ExitCode::FAILURE
        }
    }
}

fn install(args: &InstallArgs) -> anyhow::Result<()> {
    let scope = args.target.scope();
    let exe =
        std::env::current_exe().and_then(std::fs::canonicalize).context("cannot tell where the taskyard binary is")?;
    let config = args.config.as_deref().map(config_file).transpose()?;
    let settings = config.as_ref().map_or_else(Settings::default, |(_, settings)| settings.clone());
    let unit = Unit::new(scope, &exe, config.as_ref().map(|(path, _)| path.as_path()), &settings)?;
    let text = unit.render();
    if args.print {
        let mut stdout = std::io::stdout().lock();
        return stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).context("cannot print the unit");
    }
    let systemctl = Systemctl::find(scope)?;
    let path = args.target.unit_path()?;
    write_unit(&path, &text)?;
    systemctl.run(&["daemon-reload"]).and_then(|()| systemctl.run(&["enable", "--now", UNIT_NAME])).with_context(
        || {
            format!(
                "wrote {} but systemctl did not start it (where systemd does not run, use `taskyard service \
                 install --print` and install the unit by hand)",
                path.display()
            )
        },
    )?;
    println!("installed {}; {UNIT_NAME} is enabled and started", path.display());
    Ok(())
}

fn uninstall(target: &Target) -> anyhow::Result<()> {
    let path = target.unit_path()?;
    if !path.exists() {
        bail!("no unit at {}: nothing to uninstall", path.display());
    }
    let systemctl = Systemctl::find(target.scope())?;
    systemctl.run(&["disable", "--now", UNIT_NAME])?;
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    systemctl.run(&["daemon-reload"])?;
    println!("stopped and disabled {UNIT_NAME}; removed {}", path.display());
    Ok(())
}

fn status(target: &Target) -> anyhow::Result<()> {
    let path = target.unit_path()?;
    if path.is_file() {
        println!("unit: {} (installed)", path.display());
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        for exec in text.lines().filter_map(|line| line.strip_prefix("ExecStart=")) {
            println!("runs: {exec}");
        }
    } else {
        println!("unit: {} (not installed)", path.display());
    }
    let systemctl = Systemctl::find(target.scope())?;
    for (label, query) in [("enabled", "is-enabled"), ("active", "is-active")] {
        // A unit systemctl does not know makes it fail; that is its view, shown as such.
        match systemctl.query(&[query, UNIT_NAME]) {
            Ok(answer) => println!("{label}: {answer}"),
            Err(err) => println!("{label}: unknown ({})", one_line(&format!("{err:#}"))),
        }
    }
    Ok(())
}

impl Target {
    fn scope(&self) -> Scope {
        if self.user { Scope::User } else { Scope::System }
    }

    fn unit_path(&self) -> anyhow::Result<PathBuf> {
        let dir = match (&self.unit_dir, self.scope()) {
            (Some(dir), _) => std::path::absolute(dir).context("cannot resolve --unit-dir")?,
            (None, Scope::System) => PathBuf::from("/etc/systemd/system"),
            (None, Scope::User) => user_config_dir()?.join("systemd/user"),
        };
        Ok(dir.join(UNIT_NAME))
    }
}

/// `$XDG_CONFIG_HOME`, else `~/.config`. A relative value is an error rather than a guess: systemd would not read
/// the unit where it was written.
fn user_config_dir() -> anyhow::Result<PathBuf> {
    let absolute = |name: &str| -> anyhow::Result<Option<PathBuf>> {
        match std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from) {
            Some(path) if !path.is_absolute() => bail!("{name} must be an absolute path: {}", path.display()),
            found => Ok(found),
        }
    };
    match absolute("XDG_CONFIG_HOME")? {
        Some(dir) => Ok(dir),
        None => Ok(absolute("HOME")?.context("neither XDG_CONFIG_HOME nor HOME is set")?.join(".config")),
    }
}

/// The config file made absolute, and the settings it holds: it must be a regular file that parses and validates,
/// or the service would fail at every start.
fn config_file(path: &Path) -> anyhow::Result<(PathBuf, Settings)> {
    let path = std::path::absolute(path).context("cannot resolve --config")?;
    let meta = std::fs::metadata(&path).with_context(|| format!("config file {}", path.display()))?;
    if !meta.is_file() {
        bail!("config file {} is not a regular file", path.display());
    }
    if meta.len() > CONFIG_MAX_BYTES {
        bail!("config file {} is larger than {CONFIG_MAX_BYTES} bytes", path.display());
    }
    let settings = Settings::from_layers(Settings::file_layer(&path)?)?;
    settings.validate().with_context(|| format!("config file {}", path.display()))?;
    Ok((path, settings))
}

/// Writes the unit through a temporary file and a rename, so that systemd never reads half a unit.
fn write_unit(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().context("the unit path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temporary = dir.join(format!(".{UNIT_NAME}.new"));
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A message as one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
