//! A task's environment variables: names that the process can receive, values that fit, and none of the variables
//! that make an allowed program load or run something else (the dynamic loader's and interpreters' start-up hooks,
//! `PATH`, pagers and editors) unless the operator allows that variable by name.
use std::collections::{BTreeMap, BTreeSet};

/// The longest value one variable may have (Linux refuses a longer `NAME=value` at exec).
pub const MAX_VALUE_BYTES: usize = 128 * 1024 - 1024;
/// The most variables one task may set.
pub const MAX_VARIABLES: usize = 256;

/// Variables refused by name: each makes a program load, read or run a file that the variable names.
#[rustfmt::skip]
const HOOKS: &[&str] = &[
    // Which programs scripts and shells find; the job's own program is resolved by the server, not by PATH.
    "PATH",
    // Shells read these at start-up, or run them.
    "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "ZDOTDIR", "IFS", "BASH_LOADABLES_PATH",
    // glibc: module paths, tunables, locale and resolver files, malloc tracing.
    "GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES", "LOCPATH", "NLSPATH", "MALLOC_TRACE",
    "RESOLV_HOST_CONF", "TZDIR",
    // TLS libraries load engines and providers from their configuration, or log keys to a file.
    "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES", "SSLKEYLOGFILE",
    // Interpreters' option and path variables.
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "PHPRC", "PHP_INI_SCAN_DIR", "TCLLIBPATH",
    "R_PROFILE", "R_PROFILE_USER", "R_ENVIRON", "R_ENVIRON_USER", "EMACSLOADPATH", "VIMINIT", "EXINIT", "MYVIMRC",
    // Where programs look for their own start-up files: a task pointing HOME at a directory with a
    // usercustomize.py, a .zshenv or a .gitconfig makes allowed scripts run its code.
    "HOME", "TCL_LIBRARY", "TK_LIBRARY", "TIX_LIBRARY", "TAR_OPTIONS", "WGETRC", "CURL_HOME", "PSQLRC", "PGSERVICEFILE",
    "MYSQL_HOME", "INPUTRC", "TERMINFO", "TERMINFO_DIRS", "MAGIC", "KRB5_CONFIG", "GNUPGHOME", "GIT_CONFIG",
    "_POSIX2_VERSION", "POSIXLY_CORRECT", "CDPATH", "SHELL", "FPATH", "VIMRUNTIME", "VIM", "IRBRC", "LESSKEY",
    "LESSKEYIN", "SYSTEM_WGETRC", "PGSYSCONFDIR", "PGPASSFILE", "HGRCPATH", "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE", "KUBECONFIG", "DOCKER_CONFIG", "DOCKER_HOST", "TERMCAP", "KRB5_TRACE", "RANDFILE",
    "SASL_PATH", "GIO_EXTRA_MODULES", "GTK_MODULES", "GTK_PATH", "QT_PLUGIN_PATH",
    // Build tools and archivers that take options or commands from a variable.
    "MAKEFILES", "MAKEFLAGS", "MFLAGS", "JAVA_HOME", "MAVEN_OPTS", "RUSTC_WRAPPER", "RUSTC", "GOFLAGS", "GOENV",
    "GOROOT", "GOPATH", "GOTOOLCHAIN", "ZIPOPT", "UNZIP", "UNZIPOPT", "XZ_OPT", "XZ_DEFAULTS", "GZIP", "BZIP",
    "BZIP2", "TAPE", "RSYNC_RSH", "RSYNC_CONNECT_PROG", "CVS_RSH", "MANOPT", "CC", "CXX", "CPP", "LD", "AR", "AS",
    // Programs that start an editor, pager, browser or password helper named by a variable.
    "EDITOR", "VISUAL", "PAGER", "MANPAGER", "SYSTEMD_PAGER", "LESSOPEN", "LESSCLOSE", "BROWSER", "SSH_ASKPASS",
    "SUDO_ASKPASS", "SUDO_EDITOR", "SYSTEMD_EDITOR",
];

/// Variables refused by prefix: whole families of loader and interpreter settings.
#[rustfmt::skip]
const HOOK_PREFIXES: &[&str] = &[
    "LD_", "DYLD_", "BASH_FUNC_", "PYTHON", "PERL", "RUBY", "GEM_", "BUNDLE_", "NODE_", "NPM_CONFIG_",
    "LUA_", "GIT_", "DOTNET_", "CORECLR_", "COMPLUS_", "JULIA_", "XDG_", "R_LIBS", "GROFF_", "GRADLE_", "CARGO_",
    "RUSTUP_", "PIP_", "YARN_", "HG",
];

/// Why a variable is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    #[error(
        "env variable name '{0}' is not valid: use letters, digits and '_', not starting with a digit (at most 256)"
    )]
    BadName(String),
    #[error("env variable '{0}' is reserved: the server sets the TASKYARD_* variables of every job")]
    Reserved(String),
    #[error(
        "env variable '{0}' is refused: it makes programs load or run a file it names. An operator who means it \
         allows it with `allow_env_hooks = [\"{0}\"]` in the config file (or --allow-env-hook {0})"
    )]
    Hook(String),
    #[error("env variable '{0}' holds a NUL byte, which no environment entry can hold")]
    Nul(String),
    #[error("env variable '{0}' is {1} bytes long; at most {MAX_VALUE_BYTES}")]
    TooLong(String, usize),
    #[error("a task may set at most {MAX_VARIABLES} env variables, got {0}")]
    TooMany(usize),
}

/// Whether `name` can be an environment variable's name: letters, digits and `_`, not starting with a digit.
pub fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 256
        && matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A locale variable whose value has a `/` makes glibc load locale data from that path.
fn names_locale_files(name: &str, value: &str) -> bool {
    is_locale_var(name) && value.contains('/')
}

/// `TZ` naming a file (`/etc/x`, `:/etc/x`, or a zone name that climbs out of the zone directory) makes glibc read
/// that file; `Europe/Berlin` or `UTC+2` are names.
fn names_zone_file(name: &str, value: &str) -> bool {
    name == "TZ" && (value.trim_start_matches(':').starts_with('/') || value.contains(".."))
}

fn is_locale_var(name: &str) -> bool {
    name == "LANG" || name == "LANGUAGE" || name.starts_with("LC_")
}

/// Whether `name` is one of the refused start-up hooks (always refused, or, for the locale variables, when their
/// value names a path).
/// Names are compared without regard to case: some programs (npm, pip) read their variables that way, and no
/// loader or interpreter hook differs from another name by case alone.
pub fn is_hook(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    HOOKS.contains(&upper.as_str())
        || HOOK_PREFIXES.iter().any(|p| upper.starts_with(p))
        || is_locale_var(name)
        || name == "TZ"
}

/// The variables that may be set: everything but the hooks, and of those the ones named by the operator.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvPolicy {
    pub allowed_hooks: BTreeSet<String>,
}

impl EnvPolicy {
    /// Checks one variable.
    pub fn check_var(&self, name: &str, value: &str) -> Result<(), EnvError> {
        if !is_name(name) {
            return Err(EnvError::BadName(name.chars().take(80).collect()));
        }
        if name.starts_with("TASKYARD_") {
            return Err(EnvError::Reserved(name.to_string()));
        }
        // The locale variables and TZ are names, refused only when they name a file.
        let refused = if is_locale_var(name) {
            names_locale_files(name, value)
        } else if name == "TZ" {
            names_zone_file(name, value)
        } else {
            is_hook(name)
        };
        if refused && !self.allowed_hooks.contains(name) {
            return Err(EnvError::Hook(name.to_string()));
        }
        if value.contains('\0') {
            return Err(EnvError::Nul(name.to_string()));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(EnvError::TooLong(name.to_string(), value.len()));
        }
        Ok(())
    }

    /// Checks a task's whole environment.
    pub fn check(&self, env: &BTreeMap<String, String>) -> Result<(), EnvError> {
        if env.len() > MAX_VARIABLES {
            return Err(EnvError::TooMany(env.len()));
        }
        env.iter().try_for_each(|(k, v)| self.check_var(k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_refused_unless_allowed_by_name() {
        let policy = EnvPolicy::default();
        #[rustfmt::skip]
        let hooks = [
            "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_DEBUG_OUTPUT", "GCONV_PATH", "GLIBC_TUNABLES", "BASH_ENV",
            "ENV", "PATH", "PYTHONPATH", "PYTHONSTARTUP", "PYTHONWARNINGS", "PERL5OPT", "PERL5LIB", "RUBYOPT",
            "NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "LUA_INIT", "GIT_SSH_COMMAND", "PAGER", "OPENSSL_CONF", "PS4",
            "npm_config_script_shell", "SYSTEMD_EDITOR", "CVS_RSH", "MANOPT", "CC", "CXX", "BASH_LOADABLES_PATH",
        ];
        for hook in hooks {
            assert_eq!(policy.check_var(hook, "x"), Err(EnvError::Hook(hook.into())), "{hook}");
        }
        let operator = EnvPolicy { allowed_hooks: BTreeSet::from(["PYTHONPATH".to_string()]) };
        assert!(operator.check_var("PYTHONPATH", "/srv/lib").is_ok());
        assert!(operator.check_var("PYTHONHOME", "/srv").is_err(), "only the named hook is allowed");
    }

    #[test]
    fn names_and_values_that_cannot_reach_a_process_are_refused() {
        let policy = EnvPolicy::default();
        assert!(matches!(policy.check_var("", "x"), Err(EnvError::BadName(_))));
        assert!(matches!(policy.check_var("A=B", "x"), Err(EnvError::BadName(_))));
        assert!(matches!(policy.check_var("A\0", "x"), Err(EnvError::BadName(_))));
        assert!(matches!(policy.check_var("1ABC", "x"), Err(EnvError::BadName(_))));
        assert!(matches!(policy.check_var("BASH_FUNC_ls%%", "() { id; }"), Err(EnvError::BadName(_))));
        assert_eq!(policy.check_var("TASKYARD_JOB_ID", "x"), Err(EnvError::Reserved("TASKYARD_JOB_ID".into())));
        assert_eq!(policy.check_var("A", "a\0b"), Err(EnvError::Nul("A".into())));
        assert!(matches!(policy.check_var("A", &"x".repeat(MAX_VALUE_BYTES + 1)), Err(EnvError::TooLong(_, _))));
        assert!(policy.check_var("REPORT_MODE", "full; rm -rf /").is_ok());
        assert!(policy.check_var("lower_case_ok", "").is_ok());
        assert!(policy.check_var("LC_ALL", "de_DE.UTF-8").is_ok());
        assert_eq!(policy.check_var("LC_ALL", "/tmp/evil"), Err(EnvError::Hook("LC_ALL".into())));
        assert_eq!(policy.check_var("LANG", "../../tmp/x"), Err(EnvError::Hook("LANG".into())));
        for (name, value) in [("HOME", "/tmp/evil"), ("TCL_LIBRARY", "/tmp/t"), ("XDG_CONFIG_HOME", "/tmp/c")] {
            assert_eq!(policy.check_var(name, value), Err(EnvError::Hook(name.into())), "{name}");
        }
        for sneaky in ["Npm_Config_script_shell", "ld_preload", "Pythonpath", "CDPATH", "GROFF_BIN_PATH"] {
            assert_eq!(policy.check_var(sneaky, "x"), Err(EnvError::Hook(sneaky.into())), "{sneaky}");
        }
        assert!(policy.check_var("TZ", "Europe/Berlin").is_ok());
        assert!(policy.check_var("TZ", "UTC+2").is_ok());
        for zone_file in ["/etc/passwd", ":/etc/passwd", "../../../etc/passwd"] {
            assert_eq!(policy.check_var("TZ", zone_file), Err(EnvError::Hook("TZ".into())), "{zone_file}");
        }
    }
}
