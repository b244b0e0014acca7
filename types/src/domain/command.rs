//! Command lines: split with shlex (never handed to a shell), argv[0] checked against the allow-list, and
//! parameters substituted into single argv elements after the split.
use std::collections::BTreeSet;

use super::option_rule::{
    AT_FILE_PROGRAMS, BARE_OPTION_PROGRAMS, PLUS_COMMAND_PROGRAMS, Position, is_program, render_arg,
};
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
    #[error("the command contains a NUL byte, which no argument can hold")]
    Nul,
    #[error(
        "the value of parameter '{0}' would start an argument with '-' (or, for this program, '+' or '@'), so the \
         program would take it for an option; pass another value, or declare the parameter in the task's \
         \"option_params\""
    )]
    OptionValue(String),
    #[error(
        "parameter '{0}' fills the first argument of a program that reads that argument as options (tar, ar, ps, \
         ...); declare the parameter in the task's \"option_params\" if that is meant"
    )]
    OptionPosition(String),
    #[error("argument {0} of the command would be {1} bytes; one argument may be at most {MAX_ARG_BYTES}")]
    ArgTooLong(usize, usize),
    #[error("the command's arguments would be {0} bytes in all; at most {MAX_ARGV_BYTES}")]
    ArgvTooLong(usize),
}

/// The longest one argument may be (Linux refuses longer ones at exec: `MAX_ARG_STRLEN` less the NUL).
pub const MAX_ARG_BYTES: usize = 128 * 1024 - 1;
/// The most all arguments together may hold (Linux allows about 2 MiB for arguments and environment).
pub const MAX_ARGV_BYTES: usize = 1024 * 1024;

/// A parsed command line: argv as written, placeholders not yet filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    argv: Vec<String>,
}

impl CommandLine {
    pub fn parse(line: &str) -> Result<Self, CommandError> {
        if line.contains('\0') {
            return Err(CommandError::Nul);
        }
        let argv = shlex::split(line).ok_or(CommandError::Unsplittable)?;
        if argv.is_empty() {
            return Err(CommandError::Empty);
        }
        // Not even an escaped `{{name}}`: the program is checked against the allow-list exactly as it runs.
        if !placeholders(&argv[0]).is_empty() || segments(&argv[0]).len() > 1 {
            return Err(CommandError::PlaceholderInProgram);
        }
        Ok(Self { argv })
    }

    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// Where each argument stands for the option rule (argv[0] included, as `Ordinary`; it holds no placeholder).
    fn positions(&self) -> impl Iterator<Item = Position> + '_ {
        let operands_from = self.argv.iter().position(|a| a == "--").unwrap_or(self.argv.len());
        let bare = is_program(self.program_name(), BARE_OPTION_PROGRAMS);
        (0..self.argv.len()).map(move |i| match i {
            i if i > operands_from => Position::Operand,
            1 if bare => Position::BareOptions,
            _ => Position::Ordinary,
        })
    }

    fn program_name(&self) -> &str {
        std::path::Path::new(&self.argv[0]).file_name().and_then(|n| n.to_str()).unwrap_or_default()
    }

    /// The first bytes that make an argument an option for this program: `-`, and `+` or `@` for the programs
    /// that read those.
    fn option_marks(&self) -> Vec<char> {
        let program = self.program_name();
        let mut marks = vec!['-'];
        if is_program(program, PLUS_COMMAND_PROGRAMS) {
            marks.push('+');
        }
        if is_program(program, AT_FILE_PROGRAMS) {
            marks.push('@');
        }
        marks
    }

    /// Each argument filled from `params`, under the option rule.
    fn rendered<'a>(
        &'a self,
        params: &'a Params,
        options: &'a BTreeSet<String>,
    ) -> impl Iterator<Item = Result<String, CommandError>> + 'a {
        let marks = self.option_marks();
        self.argv.iter().zip(self.positions()).map(move |(arg, at)| render_arg(arg, params, options, at, &marks))
    }

    /// The names of the parameters the command's arguments refer to.
    pub fn placeholders(&self) -> BTreeSet<&str> {
        self.argv.iter().flat_map(|arg| placeholders(arg)).collect()
    }

    /// Fills every `{name}` from `params`; `{{name}}` stays as a literal `{name}`. Each value lands inside the one
    /// argv element that named it, whatever characters it holds. A value that would turn an argument into an
    /// option (a `-`, or this program's `+` or `@`, put first; any value in a bare-options position) is
    /// refused unless its parameter is one of `options`.
    pub fn render(&self, params: &Params, options: &BTreeSet<String>) -> Result<Vec<String>, CommandError> {
        let argv: Vec<String> = self.rendered(params, options).collect::<Result<_, _>>()?;
        check_sizes(argv.iter().map(String::len))?;
        Ok(argv)
    }

    /// Checks the values that are known (a task's stored defaults) the way [`render`](Self::render) will: an
    /// argument with a parameter that has no value yet counts its literal text only (a value can only make it
    /// longer), so a task whose arguments are too long for any run is refused when it is stored.
    pub fn check_values(&self, params: &Params, options: &BTreeSet<String>) -> Result<(), CommandError> {
        let mut lengths = Vec::with_capacity(self.argv.len());
        for (arg, template) in self.rendered(params, options).zip(&self.argv) {
            lengths.push(match arg {
                Ok(arg) => arg.len(),
                Err(CommandError::MissingParam(_)) => literal_len(template),
                Err(other) => return Err(other),
            });
        }
        check_sizes(lengths.into_iter())
    }
}

/// What exec takes: no argument over [`MAX_ARG_BYTES`], at most [`MAX_ARGV_BYTES`] in all (each with its NUL).
fn check_sizes(lengths: impl Iterator<Item = usize>) -> Result<(), CommandError> {
    let mut total = 0;
    for (i, len) in lengths.enumerate() {
        if len > MAX_ARG_BYTES {
            return Err(CommandError::ArgTooLong(i, len));
        }
        total += len + 1;
    }
    if total > MAX_ARGV_BYTES {
        return Err(CommandError::ArgvTooLong(total));
    }
    Ok(())
}

/// The bytes of an argument's literal text, its placeholders left out.
fn literal_len(arg: &str) -> usize {
    segments(arg)
        .iter()
        .map(|s| match s {
            Segment::Literal(text) => text.len(),
            Segment::Placeholder(_) => 0,
        })
        .sum()
}

/// A run of an argument's text: literal, or a placeholder to fill.
pub(super) enum Segment<'a> {
    Literal(&'a str),
    Placeholder(&'a str),
}

/// Splits an argument into literal text and placeholders. `{name}` is a placeholder when `name` is a valid
/// parameter name; `{{name}}` is the literal text `{name}`; every other brace is literal.
pub(super) fn segments(arg: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut rest = arg;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(inner) = after.strip_prefix('{')
            && let Some(close) = inner.find("}}")
            && is_param_name(&inner[..close])
        {
            out.push(Segment::Literal(&rest[..open]));
            out.push(Segment::Literal(&rest[open + 1..open + 2 + close + 1]));
            rest = &inner[close + 2..];
            continue;
        }
        if let Some(close) = after.find('}')
            && is_param_name(&after[..close])
        {
            out.push(Segment::Literal(&rest[..open]));
            out.push(Segment::Placeholder(&after[..close]));
            rest = &after[close + 1..];
            continue;
        }
        out.push(Segment::Literal(&rest[..=open]));
        rest = after;
    }
    out.push(Segment::Literal(rest));
    out
}

fn placeholders(arg: &str) -> Vec<&str> {
    segments(arg)
        .into_iter()
        .filter_map(|p| match p {
            Segment::Placeholder(name) => Some(name),
            Segment::Literal(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(json: serde_json::Value) -> Params {
        Params::parse(json.as_object().unwrap().clone()).unwrap()
    }

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn shell_syntax_is_just_bytes() {
        let cmd = CommandLine::parse("echo a; rm -rf / | cat $(whoami)").unwrap();
        assert_eq!(
            cmd.render(&Params::default(), &none()).unwrap(),
            ["echo", "a;", "rm", "-rf", "/", "|", "cat", "$(whoami)"]
        );
    }

    #[test]
    fn params_fill_single_elements() {
        let cmd = CommandLine::parse("printf '%s\\n' 'hello {who}!' {n} {{who}} {not a name} {}").unwrap();
        let argv = cmd.render(&params(serde_json::json!({"who": "x'; rm -rf / #", "n": 3})), &none()).unwrap();
        assert_eq!(argv, ["printf", "%s\\n", "hello x'; rm -rf / #!", "3", "{who}", "{not", "a", "name}", "{}"]);
    }

    #[test]
    fn json_arguments_stay_literal() {
        let cmd = CommandLine::parse(r#"echo '{"a":{"b":1}}'"#).unwrap();
        assert_eq!(cmd.render(&Params::default(), &none()).unwrap(), ["echo", r#"{"a":{"b":1}}"#]);
    }

    #[test]
    fn missing_param_is_named() {
        let cmd = CommandLine::parse("echo {who}").unwrap();
        assert_eq!(cmd.render(&Params::default(), &none()), Err(CommandError::MissingParam("who".into())));
    }

    #[test]
    fn bad_command_lines() {
        assert_eq!(CommandLine::parse("   "), Err(CommandError::Empty));
        assert_eq!(CommandLine::parse("echo 'open"), Err(CommandError::Unsplittable));
        assert_eq!(CommandLine::parse("{prog} x"), Err(CommandError::PlaceholderInProgram));
        assert_eq!(CommandLine::parse("echo a\0b"), Err(CommandError::Nul));
        assert_eq!(CommandLine::parse("{{x}} a"), Err(CommandError::PlaceholderInProgram));
    }

    #[test]
    fn a_value_never_becomes_an_option_unless_declared() {
        let cmd = CommandLine::parse("date {fmt} x{fmt} --format={fmt} {empty}{fmt}").unwrap();
        for bad in ["-f/etc/passwd", "--file=/etc/passwd", "-", "--"] {
            let p = params(serde_json::json!({ "fmt": bad, "empty": "" }));
            assert_eq!(cmd.render(&p, &none()), Err(CommandError::OptionValue("fmt".into())), "{bad}");
        }
        let options = BTreeSet::from(["fmt".to_string()]);
        let p = params(serde_json::json!({ "fmt": "-u", "empty": "" }));
        assert_eq!(cmd.render(&p, &options).unwrap(), ["date", "-u", "x-u", "--format=-u", "-u"]);
        // Inside an argument, or after a literal first byte, a dash is just a byte.
        let inner = CommandLine::parse("echo x{v} --v={v} +{v}").unwrap();
        assert!(inner.render(&params(serde_json::json!({ "v": "-f" })), &none()).is_ok());
        // After a literal `--` every argument is an operand; before it, not.
        let operands = CommandLine::parse("grep {a} -- {v}").unwrap();
        let p = params(serde_json::json!({ "a": "x", "v": "-f" }));
        assert_eq!(operands.render(&p, &none()).unwrap(), ["grep", "x", "--", "-f"]);
        let p = params(serde_json::json!({ "a": "-f/etc/passwd", "v": "x" }));
        assert_eq!(operands.render(&p, &none()), Err(CommandError::OptionValue("a".into())));
        // An empty value before a literal dash puts the dash first: refused too.
        let dash = CommandLine::parse("sort {region}-{day}.csv").unwrap();
        let p = params(serde_json::json!({ "region": "", "day": "o/tmp/x" }));
        assert_eq!(dash.render(&p, &none()), Err(CommandError::OptionValue("region".into())));
        let p = params(serde_json::json!({ "region": "eu", "day": "o" }));
        assert_eq!(dash.render(&p, &none()).unwrap(), ["sort", "eu-o.csv"]);
        // tar reads its first argument as options without any dash.
        let tar = CommandLine::parse("tar {mode} /srv/{name}.tar data").unwrap();
        let p = params(serde_json::json!({ "mode": "cIf", "name": "x" }));
        assert_eq!(tar.render(&p, &none()), Err(CommandError::OptionPosition("mode".into())));
        let modes = BTreeSet::from(["mode".to_string()]);
        assert!(tar.render(&p, &modes).is_ok());
        // Other names of the same programs, and the other option marks of some.
        for program in ["x86_64-linux-gnu-ar", "llvm-ar", "llvm-ar-14", "gcc-ar-12", "/usr/bin/tar"] {
            let cmd = CommandLine::parse(&format!("{program} {{m}} x.a")).unwrap();
            let p = params(serde_json::json!({ "m": "rc" }));
            assert_eq!(cmd.render(&p, &none()), Err(CommandError::OptionPosition("m".into())), "{program}");
        }
        let vim = CommandLine::parse("vim -n {file}").unwrap();
        let p = params(serde_json::json!({ "file": "+:!id" }));
        assert_eq!(vim.render(&p, &none()), Err(CommandError::OptionValue("file".into())));
        let nm = CommandLine::parse("nm {file}").unwrap();
        let p = params(serde_json::json!({ "file": "@/tmp/opts" }));
        assert_eq!(nm.render(&p, &none()), Err(CommandError::OptionValue("file".into())));
        let date = CommandLine::parse("date {fmt}").unwrap();
        assert!(date.render(&params(serde_json::json!({ "fmt": "+%s" })), &none()).is_ok(), "+ is no option for date");
        let echo = CommandLine::parse("echo {who}").unwrap();
        assert!(echo.render(&params(serde_json::json!({ "who": "@alice" })), &none()).is_ok());
        // `--` given as a value is no separator.
        let fake = CommandLine::parse("date {a} {b}").unwrap();
        let p = params(serde_json::json!({ "a": "--", "b": "-f/etc/passwd" }));
        assert_eq!(fake.render(&p, &none()), Err(CommandError::OptionValue("a".into())));
    }

    #[test]
    fn stored_defaults_are_checked_as_far_as_they_go() {
        let cmd = CommandLine::parse("date {fmt} {later}").unwrap();
        assert!(cmd.check_values(&params(serde_json::json!({ "fmt": "+%s" })), &none()).is_ok());
        assert_eq!(
            cmd.check_values(&params(serde_json::json!({ "fmt": "-r/etc/shadow" })), &none()),
            Err(CommandError::OptionValue("fmt".into()))
        );
    }

    #[test]
    fn arguments_are_bounded_as_exec_bounds_them() {
        let cmd = CommandLine::parse("echo {v} {v} {v} {v} {v} {v} {v} {v} {v}").unwrap();
        let long = "x".repeat(MAX_ARG_BYTES + 1);
        assert_eq!(
            cmd.render(&params(serde_json::json!({ "v": long })), &none()),
            Err(CommandError::ArgTooLong(1, MAX_ARG_BYTES + 1))
        );
        let big = "x".repeat(MAX_ARG_BYTES);
        assert!(matches!(
            cmd.render(&params(serde_json::json!({ "v": big })), &none()),
            Err(CommandError::ArgvTooLong(_))
        ));
    }
}
