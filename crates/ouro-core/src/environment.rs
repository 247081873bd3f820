//! The environment of the commands the model runs (`[shell_environment_policy]`).
//!
//! By default a command inherits ouro's environment minus anything whose name looks like a
//! secret, so an API key in the user's shell never reaches a command the model wrote, and
//! `OURO_SANDBOX` tells scripts which sandbox they run in. Keys follow Codex CLI's.

use std::collections::BTreeMap;
use std::ffi::OsString;

use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Inherit {
    /// Everything ouro has.
    #[default]
    All,
    /// Only what programs commonly need: HOME, PATH, SHELL, USER, TMPDIR, locale, terminal.
    Core,
    /// Nothing.
    None,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellEnvironmentPolicy {
    #[serde(default)]
    pub inherit: Inherit,
    /// Keep variables whose names contain KEY, SECRET, TOKEN or PASSWORD.
    #[serde(default)]
    pub ignore_default_excludes: bool,
    /// Name patterns (`*` matches any run of characters, case-insensitive) to drop.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// When non-empty, only names matching one of these patterns are kept.
    #[serde(default)]
    pub include_only: Vec<String>,
    /// Variables to set, after everything else.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
}

const SECRET_MARKERS: [&str; 4] = ["KEY", "SECRET", "TOKEN", "PASSWORD"];
const CORE_VARIABLES: [&str; 11] = [
    "HOME", "PATH", "SHELL", "USER", "LOGNAME", "TMPDIR", "TERM", "LANG", "LC_ALL", "LC_CTYPE",
    "TZ",
];

impl ShellEnvironmentPolicy {
    /// The environment for a command, from `inherited` (ouro's own).
    pub fn apply(
        &self,
        inherited: impl Iterator<Item = (OsString, OsString)>,
        sandbox_mode: &str,
    ) -> Vec<(OsString, OsString)> {
        let mut env: Vec<(OsString, OsString)> = inherited
            .filter(|(name, _)| {
                let name = name.to_string_lossy();
                let inherited = match self.inherit {
                    Inherit::All => true,
                    Inherit::Core => CORE_VARIABLES.contains(&name.as_ref()),
                    Inherit::None => false,
                };
                let upper = name.to_ascii_uppercase();
                let secret = !self.ignore_default_excludes
                    && SECRET_MARKERS.iter().any(|marker| upper.contains(marker));
                inherited
                    && !secret
                    && !self.exclude.iter().any(|p| glob_match(p, &name))
                    && (self.include_only.is_empty()
                        || self.include_only.iter().any(|p| glob_match(p, &name)))
            })
            .collect();
        for (name, value) in &self.set {
            env.retain(|(n, _)| n != name.as_str());
            env.push((name.into(), value.into()));
        }
        env.push(("OURO_SANDBOX".into(), sandbox_mode.into()));
        env
    }
}

/// `*`-wildcard match, ignoring ASCII case.
fn glob_match(pattern: &str, name: &str) -> bool {
    let pattern = pattern.to_ascii_uppercase();
    let name = name.to_ascii_uppercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(split) => split,
        None => return name.is_empty(),
    };
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn names(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect()
    }

    const SHELL_VARS: &[(&str, &str)] = &[
        ("PATH", "/bin"),
        ("HOME", "/root"),
        ("OPENAI_API_KEY", "sk"),
        ("GITHUB_TOKEN", "t"),
        ("db_password", "p"),
        ("AWS_REGION", "eu"),
        ("EDITOR", "vi"),
    ];

    #[test]
    fn secrets_are_dropped_by_default() {
        let env =
            ShellEnvironmentPolicy::default().apply(vars(SHELL_VARS).into_iter(), "read-only");
        assert_eq!(
            names(&env),
            ["PATH", "HOME", "AWS_REGION", "EDITOR", "OURO_SANDBOX"]
        );
        assert_eq!(env.last().unwrap().1, "read-only");
    }

    #[test]
    fn inherit_exclude_include_and_set() {
        let policy = ShellEnvironmentPolicy {
            inherit: Inherit::Core,
            set: BTreeMap::from([("CI".to_string(), "1".to_string())]),
            ..Default::default()
        };
        let env = policy.apply(vars(SHELL_VARS).into_iter(), "workspace-write");
        assert_eq!(names(&env), ["PATH", "HOME", "CI", "OURO_SANDBOX"]);

        let policy = ShellEnvironmentPolicy {
            exclude: vec!["aws_*".into()],
            ignore_default_excludes: true,
            ..Default::default()
        };
        let env = policy.apply(vars(SHELL_VARS).into_iter(), "x");
        assert!(names(&env).contains(&"OPENAI_API_KEY".to_string()));
        assert!(!names(&env).contains(&"AWS_REGION".to_string()));

        let policy = ShellEnvironmentPolicy {
            include_only: vec!["PATH".into(), "*DIT*".into()],
            ..Default::default()
        };
        let env = policy.apply(vars(SHELL_VARS).into_iter(), "x");
        assert_eq!(names(&env), ["PATH", "EDITOR", "OURO_SANDBOX"]);
    }

    #[test]
    fn glob_matching() {
        assert!(glob_match("AWS_*", "aws_region"));
        assert!(glob_match("*_KEY", "OPENAI_API_KEY"));
        assert!(glob_match("A*B*C", "AxxBxxC"));
        assert!(!glob_match("A*B*C", "AxxCxxB"));
        assert!(glob_match("PATH", "path"));
        assert!(!glob_match("PATH", "PATHS"));
    }
}
