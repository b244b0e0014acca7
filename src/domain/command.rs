//! Command lines: split with shlex (never handed to a shell), argv[0] checked against the allow-list, and
//! parameters substituted into single argv elements after the split.
use std::collections::BTreeSet;
use std::path::Path;

use super::params::{Params, is_param_name};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("the command is empty")]
    Empty,
    #[error("the command cannot be split into arguments: check for an unclosed quote or a trailing backslash")]
    Unsplittable,
    #[error("the program (argv[0]) cannot contain a {{placeholder}}: parameters may only fill arguments")]
    PlaceholderInProgram,
    #[error(
        "program '{0}' is not on the allow-list; allow it with `--allow {0}` or TASKYARD_ALLOW, or in the config \
         file's `allow` list"
    )]
    NotAllowed(String),
    #[error("no value for parameter '{0}': pass it in the execute request's \"params\" or store it on the task")]
    MissingParam(String),
}

/// A parsed command line: argv as written, placeholders not yet filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    argv: Vec<String>,
}

impl CommandLine {
    pub fn parse(line: &str) -> Result<Self, CommandError> {
        let argv = shlex::split(line).ok_or(CommandError::Unsplittable)?;
        if argv.is_empty() {
            return Err(CommandError::Empty);
        }
        if !placeholders(&argv[0]).is_empty() {
            return Err(CommandError::PlaceholderInProgram);
        }
        Ok(Self { argv })
    }

    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// Fills every `{name}` from `params`; `{{name}}` stays as a literal `{name}`. Each value lands inside the one
    /// argv element that named it, whatever characters it holds.
    pub fn render(&self, params: &Params) -> Result<Vec<String>, CommandError> {
        self.argv.iter().map(|arg| render_arg(arg, params)).collect()
    }
}

enum Piece<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

/// Splits an argument into literal text and placeholders. `{name}` is a placeholder when `name` is a valid
/// parameter name; `{{name}}` is the literal text `{name}`; every other brace is literal.
fn pieces(arg: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(inner) = after.strip_prefix('{')
            && let Some(close) = inner.find("}}")
            && is_param_name(&inner[..close])
        {
            out.push(Piece::Literal(&rest[..open]));
            out.push(Piece::Literal(&rest[open + 1..open + 2 + close + 1]));
            rest = &inner[close + 2..];
            continue;
        }
        if let Some(close) = after.find('}')
            && is_param_name(&after[..close])
        {
            out.push(Piece::Literal(&rest[..open]));
            out.push(Piece::Placeholder(&after[..close]));
            rest = &after[close + 1..];
            continue;
        }
        out.push(Piece::Literal(&rest[..=open]));
        rest = after;
    }
    out.push(Piece::Literal(rest));
    out
}

fn placeholders(arg: &str) -> Vec<&str> {
    pieces(arg)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Placeholder(name) => Some(name),
            Piece::Literal(_) => None,
        })
        .collect()
}

fn render_arg(arg: &str, params: &Params) -> Result<String, CommandError> {
    let mut out = String::with_capacity(arg.len());
    for piece in pieces(arg) {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Placeholder(name) => {
                out.push_str(&params.text(name).ok_or_else(|| CommandError::MissingParam(name.to_string()))?)
            }
        }
    }
    Ok(out)
}

/// The programs a task may run: argv[0] must equal an entry exactly (a bare name is looked up on PATH at spawn
/// time; an entry with a slash is that exact file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowList(BTreeSet<String>);

impl AllowList {
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(programs: I) -> Self {
        Self(programs.into_iter().map(Into::into).filter(|p: &String| !p.trim().is_empty()).collect())
    }

    pub fn check(&self, command: &CommandLine) -> Result<(), CommandError> {
        if self.0.contains(command.program()) {
            Ok(())
        } else {
            Err(CommandError::NotAllowed(command.program().to_string()))
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// Whether `program` names an executable file, directly (with a slash) or through `PATH`.
pub fn program_exists(program: &str, path_var: Option<&std::ffi::OsStr>) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let is_exec = |p: &Path| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if program.contains('/') {
        return is_exec(Path::new(program));
    }
    path_var.is_some_and(|paths| std::env::split_paths(paths).any(|dir| is_exec(&dir.join(program))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> Params {
        Params::parse(json.as_object().unwrap().clone()).unwrap()
    }

    #[test]
    fn shell_syntax_is_just_bytes() {
        let cmd = CommandLine::parse("echo a; rm -rf / | cat $(whoami)").unwrap();
        assert_eq!(cmd.render(&Params::default()).unwrap(), ["echo", "a;", "rm", "-rf", "/", "|", "cat", "$(whoami)"]);
    }

    #[test]
    fn params_fill_single_elements() {
        let cmd = CommandLine::parse("printf '%s\\n' 'hello {who}!' {n} {{who}} {not a name} {}").unwrap();
        let argv = cmd.render(&params(serde_json::json!({"who": "x'; rm -rf / #", "n": 3}))).unwrap();
        assert_eq!(argv, ["printf", "%s\\n", "hello x'; rm -rf / #!", "3", "{who}", "{not", "a", "name}", "{}"]);
    }

    #[test]
    fn json_arguments_stay_literal() {
        let cmd = CommandLine::parse(r#"echo '{"a":{"b":1}}'"#).unwrap();
        assert_eq!(cmd.render(&Params::default()).unwrap(), ["echo", r#"{"a":{"b":1}}"#]);
    }

    #[test]
    fn missing_param_is_named() {
        let cmd = CommandLine::parse("echo {who}").unwrap();
        assert_eq!(cmd.render(&Params::default()), Err(CommandError::MissingParam("who".into())));
    }

    #[test]
    fn bad_command_lines() {
        assert_eq!(CommandLine::parse("   "), Err(CommandError::Empty));
        assert_eq!(CommandLine::parse("echo 'open"), Err(CommandError::Unsplittable));
        assert_eq!(CommandLine::parse("{prog} x"), Err(CommandError::PlaceholderInProgram));
    }

    #[test]
    fn allow_list_is_exact() {
        let allow = AllowList::new(["echo", "/usr/bin/env"]);
        assert!(allow.check(&CommandLine::parse("echo hi").unwrap()).is_ok());
        assert!(allow.check(&CommandLine::parse("/usr/bin/env").unwrap()).is_ok());
        for bad in ["/bin/echo hi", "./echo", "rm -rf /", "env"] {
            assert!(allow.check(&CommandLine::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }

    #[test]
    fn finds_programs_on_path() {
        let path = std::env::var_os("PATH");
        assert!(program_exists("sh", path.as_deref()));
        assert!(!program_exists("definitely-not-a-program-xyz", path.as_deref()));
        assert!(program_exists("/bin/sh", None));
    }
}
