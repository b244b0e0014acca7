//! The option rule: a parameter's value never turns an argument into an option unless the task says so. Where an
//! argument stands (operand, bare-options position, anywhere else), which first bytes make an option for which
//! program, and the filling of one argument under that rule.
use std::collections::BTreeSet;

use super::command::{CommandError, Segment, segments};
use super::params::Params;

/// Where an argument stands, for the option rule.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Position {
    /// After a literal `--`: the program takes it as an operand whatever it starts with.
    Operand,
    /// The first argument of a program that reads it as options even without a dash (`tar cf`, `ps aux`).
    BareOptions,
    /// Anywhere else: an option if it starts with `-`.
    Ordinary,
}

/// Programs whose first argument is a cluster of options with or without a leading dash.
pub(super) const BARE_OPTION_PROGRAMS: &[&str] = &["tar", "gtar", "bsdtar", "ar", "ps", "jar"];
/// Programs that take `+command` arguments (an editor command to run, a line to start at).
pub(super) const PLUS_COMMAND_PROGRAMS: &[&str] =
    &["vi", "vim", "nvim", "view", "vimdiff", "ex", "rvim", "more", "less", "emacs", "nano"];
/// Programs that read options from `@file` (binutils, compilers, Java tools).
pub(super) const AT_FILE_PROGRAMS: &[&str] = &[
    "ar",
    "ranlib",
    "nm",
    "objdump",
    "objcopy",
    "strip",
    "readelf",
    "size",
    "strings",
    "addr2line",
    "ld",
    "as",
    "gcc",
    "g++",
    "cc",
    "c++",
    "cpp",
    "clang",
    "clang++",
    "javac",
    "java",
    "jar",
    "javadoc",
    "jlink",
    "windres",
];

/// Whether `program` (a file name) is `name`, also in the forms distributions install it under: with a version
/// (`gcc-12`, `python3.11`), a target triple or tool prefix (`x86_64-linux-gnu-ar`, `llvm-ar`, `gcc-ar`).
pub(super) fn is_program(program: &str, names: &[&str]) -> bool {
    let bare = super::allow::without_version(program);
    [program, bare].iter().any(|p| names.iter().any(|n| p == n || p.ends_with(&format!("-{n}"))))
}

/// One argument with its placeholders filled. A value may make it an option only through parameters listed in
/// `options`: in an argument written without a leading `-`, the parameter whose value puts a `-` first, or, when
/// the dash is the template's own, the empty values before it; in a bare-options position, every parameter.
pub(super) fn render_arg(
    arg: &str,
    params: &Params,
    options: &BTreeSet<String>,
    at: Position,
    marks: &[char],
) -> Result<String, CommandError> {
    let mut out = String::with_capacity(arg.len());
    let mut filled_by = Vec::new();
    // The parameters answerable for the argument's first byte: the one that wrote it, or the empty ones before
    // the literal text that did.
    let mut first_byte_by: Option<Vec<&str>> = None;
    let mut empties = Vec::new();
    for segment in segments(arg) {
        match segment {
            Segment::Literal(text) => {
                if first_byte_by.is_none() && !text.is_empty() {
                    first_byte_by = Some(std::mem::take(&mut empties));
                }
                out.push_str(text);
            }
            Segment::Placeholder(name) => {
                let value = params.text(name).ok_or_else(|| CommandError::MissingParam(name.to_string()))?;
                if first_byte_by.is_none() {
                    if value.is_empty() {
                        empties.push(name);
                    } else {
                        first_byte_by = Some(vec![name]);
                    }
                }
                out.push_str(&value);
                filled_by.push(name);
            }
        }
    }
    let unlisted = |names: &[&str]| names.iter().find(|name| !options.contains(**name)).map(|name| name.to_string());
    match at {
        Position::Operand => {}
        Position::BareOptions => {
            if let Some(name) = unlisted(&filled_by) {
                return Err(CommandError::OptionPosition(name));
            }
        }
        Position::Ordinary => {
            if !arg.starts_with(marks)
                && out.starts_with(marks)
                && let Some(name) = unlisted(first_byte_by.as_deref().unwrap_or_default())
            {
                return Err(CommandError::OptionValue(name));
            }
        }
    }
    Ok(out)
}
