//! The GitHub Action (action.yml) and the example workflow (examples/deploy.yml).
//!
//! The action's shell steps are run as the runner would run them: `bash --noprofile --norc -eo pipefail`, with
//! `GITHUB_OUTPUT` / `GITHUB_ENV` / `GITHUB_PATH` as fresh files per step, one `GITHUB_STEP_SUMMARY`, `${{ … }}`
//! expressions in `env:` and `if:` evaluated (a small evaluator that refuses what it doesn't know), and the
//! `actions/cache` steps simulated as cache misses (the state folder simply stays on disk between runs, as a cache
//! restore would bring it back).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_norway::Value;

use crate::support::{self, SECRET_ID, SECRET_KEY};

fn load(rel: &str) -> Value {
    let text =
        std::fs::read_to_string(support::root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn map(v: &Value) -> Vec<(String, Value)> {
    v.as_mapping()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn inputs_of(action: &Value) -> BTreeMap<String, String> {
    map(&action["inputs"])
        .into_iter()
        .map(|(k, v)| (k, v.get("default").map(str_of).unwrap_or_default()))
        .collect()
}

fn outputs_of(action: &Value) -> Vec<String> {
    map(&action["outputs"])
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

fn steps_of(action: &Value) -> Vec<Value> {
    action["runs"]["steps"]
        .as_sequence()
        .cloned()
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------------------------
// A small evaluator for the expressions the action uses.

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Str(String),
    Bool(bool),
}

impl Val {
    fn truthy(&self) -> bool {
        match self {
            Self::Str(s) => !s.is_empty(),
            Self::Bool(b) => *b,
        }
    }
    fn text(&self) -> String {
        match self {
            Self::Str(s) => s.clone(),
            Self::Bool(b) => b.to_string(),
        }
    }
}

struct Ctx {
    inputs: BTreeMap<String, String>,
    steps: BTreeMap<String, BTreeMap<String, String>>,
    github: BTreeMap<String, String>,
    failed: bool,
}

impl Ctx {
    fn lookup(&self, path: &str) -> String {
        let parts: Vec<&str> = path.split('.').collect();
        match parts.as_slice() {
            ["inputs", name] => self
                .inputs
                .get(*name)
                .cloned()
                .unwrap_or_else(|| panic!("unknown input {name}")),
            ["steps", id, "outputs", name] => self
                .steps
                .get(*id)
                .and_then(|o| o.get(*name))
                .cloned()
                .unwrap_or_default(),
            ["github", name] => self
                .github
                .get(*name)
                .cloned()
                .unwrap_or_else(|| panic!("unsupported github.{name}")),
            _ => panic!("unsupported context {path:?}"),
        }
    }

    fn eval(&self, expr: &str) -> Val {
        let tokens = tokenize(expr);
        let mut pos = 0;
        let v = self.or(&tokens, &mut pos);
        assert_eq!(pos, tokens.len(), "trailing tokens in {expr:?}");
        v
    }

    fn or(&self, t: &[String], pos: &mut usize) -> Val {
        let mut v = self.and(t, pos);
        while t.get(*pos).is_some_and(|x| x == "||") {
            *pos += 1;
            let r = self.and(t, pos);
            v = if v.truthy() { v } else { r };
        }
        v
    }

    fn and(&self, t: &[String], pos: &mut usize) -> Val {
        let mut v = self.cmp(t, pos);
        while t.get(*pos).is_some_and(|x| x == "&&") {
            *pos += 1;
            let r = self.cmp(t, pos);
            v = if v.truthy() { r } else { v };
        }
        v
    }

    fn cmp(&self, t: &[String], pos: &mut usize) -> Val {
        let l = self.unary(t, pos);
        match t.get(*pos).map(String::as_str) {
            Some(op @ ("==" | "!=")) => {
                let op = op.to_string();
                *pos += 1;
                let r = self.unary(t, pos);
                // GitHub compares strings case-insensitively.
                let eq = l.text().eq_ignore_ascii_case(&r.text());
                Val::Bool(if op == "==" { eq } else { !eq })
            }
            _ => l,
        }
    }

    fn unary(&self, t: &[String], pos: &mut usize) -> Val {
        let tok = t
            .get(*pos)
            .cloned()
            .unwrap_or_else(|| panic!("expression ends early: {t:?}"));
        *pos += 1;
        match tok.as_str() {
            "!" => Val::Bool(!self.unary(t, pos).truthy()),
            "(" => {
                let v = self.or(t, pos);
                assert_eq!(t.get(*pos).map(String::as_str), Some(")"), "{t:?}");
                *pos += 1;
                v
            }
            "always()" => Val::Bool(true),
            "success()" => Val::Bool(!self.failed),
            "failure()" => Val::Bool(self.failed),
            "true" => Val::Bool(true),
            "false" => Val::Bool(false),
            s if s.starts_with('\'') => Val::Str(s[1..s.len() - 1].replace("''", "'")),
            s if s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && !s.contains('(') => {
                Val::Str(self.lookup(s))
            }
            s => panic!("unsupported token {s:?}"),
        }
    }

    /// Substitutes every `${{ … }}` in `s`.
    fn subst(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("${{") {
            out.push_str(&rest[..i]);
            let j = rest[i..]
                .find("}}")
                .unwrap_or_else(|| panic!("unclosed expression in {s:?}"))
                + i;
            out.push_str(&self.eval(&rest[i + 3..j]).text());
            rest = &rest[j + 2..];
        }
        out.push_str(rest);
        out
    }

    fn condition(&self, cond: Option<&Value>) -> bool {
        let Some(c) = cond else { return !self.failed };
        let c = str_of(c);
        let c = c.trim();
        let c = c
            .strip_prefix("${{")
            .and_then(|c| c.strip_suffix("}}"))
            .unwrap_or(c);
        // Like GitHub: a condition without a status function gets an implicit success().
        let v = self.eval(c).truthy();
        if c.contains("always()") || c.contains("failure()") {
            v
        } else {
            v && !self.failed
        }
    }
}

fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut j = i + 1;
            loop {
                assert!(j < chars.len(), "unclosed string in {s:?}");
                if chars[j] == '\'' {
                    if chars.get(j + 1) == Some(&'\'') {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            out.push(chars[i..=j].iter().collect());
            i = j + 1;
        } else if "=!&|".contains(c) && chars.get(i + 1).is_some_and(|n| "=&|".contains(*n)) {
            out.push(chars[i..i + 2].iter().collect());
            i += 2;
        } else if "!()".contains(c) {
            out.push(c.to_string());
            i += 1;
        } else {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || "._-".contains(chars[j]))
            {
                j += 1;
            }
            assert!(j > i, "unexpected {c:?} in {s:?}");
            let mut word: String = chars[i..j].iter().collect();
            if chars.get(j) == Some(&'(') && chars.get(j + 1) == Some(&')') {
                word.push_str("()");
                j += 2;
            }
            out.push(word);
            i = j;
        }
    }
    out
}

#[test]
fn the_expression_evaluator_agrees_with_github_on_what_the_action_uses() {
    let mut ctx = Ctx {
        inputs: BTreeMap::from([("dry-run".to_string(), "true".to_string())]),
        steps: BTreeMap::from([(
            "s".to_string(),
            BTreeMap::from([("found".to_string(), "true".to_string())]),
        )]),
        github: BTreeMap::new(),
        failed: false,
    };
    assert!(!ctx.condition(Some(&Value::from("steps.s.outputs.found != 'true'"))));
    assert!(ctx.condition(Some(&Value::from(
        "steps.s.outputs.missing != 'true' && inputs.dry-run == 'TRUE'"
    ))));
    assert!(ctx.condition(Some(&Value::from(
        "${{ !(steps.s.outputs.found == 'false') }}"
    ))));
    assert_eq!(
        ctx.subst("a ${{ inputs.dry-run }} b ${{ steps.s.outputs.nope }}c"),
        "a true b c"
    );
    ctx.failed = true;
    assert!(!ctx.condition(None));
    assert!(!ctx.condition(Some(&Value::from("steps.s.outputs.found == 'true'"))));
    assert!(ctx.condition(Some(&Value::from(
        "always() && steps.s.outputs.found == 'true'"
    ))));
}

// ---------------------------------------------------------------------------------------------------------------
// The runner.

/// What a run of the action left behind.
#[derive(Debug)]
struct ActionRun {
    /// The action's outputs.
    outputs: BTreeMap<String, String>,
    /// `$GITHUB_STEP_SUMMARY`.
    summary: String,
    /// Every step's stdout and stderr.
    log: String,
    /// Names of the steps that ran (their `if:` held).
    ran: Vec<String>,
    /// A step failed.
    failed: bool,
}

/// Runs action.yml's steps in `workspace` with `with` as inputs; `path` is the PATH the steps start with.
fn run_action(
    workspace: &Path,
    with: &[(&str, &str)],
    path: &str,
    env: &[(&str, String)],
) -> ActionRun {
    let action = load("action.yml");
    let mut inputs = inputs_of(&action);
    for (k, v) in with {
        assert!(inputs.contains_key(*k), "{k} is not an input of action.yml");
        inputs.insert((*k).to_string(), (*v).to_string());
    }
    let runner = tempfile::tempdir().unwrap();
    let temp = runner.path().join("temp");
    std::fs::create_dir_all(&temp).unwrap();
    let summary = runner.path().join("summary.md");
    std::fs::write(&summary, "").unwrap();
    let action_path = support::root();
    let mut ctx = Ctx {
        inputs,
        steps: BTreeMap::new(),
        github: BTreeMap::from([
            ("action_path".to_string(), action_path.display().to_string()),
            ("workspace".to_string(), workspace.display().to_string()),
            ("run_id".to_string(), "4242".to_string()),
            ("run_attempt".to_string(), "1".to_string()),
        ]),
        failed: false,
    };
    let mut extra_path: Vec<String> = Vec::new();
    let mut job_env: Vec<(String, String)> = Vec::new();
    let (mut log, mut ran) = (String::new(), Vec::new());
    for (n, step) in steps_of(&action).iter().enumerate() {
        let name = step
            .get("name")
            .map(str_of)
            .unwrap_or_else(|| format!("step {n}"));
        if !ctx.condition(step.get("if")) {
            continue;
        }
        ran.push(name.clone());
        let id = step.get("id").map(str_of);
        if let Some(uses) = step.get("uses").map(str_of) {
            // Cache steps: evaluate their inputs (they must resolve), then report a miss.
            for (_, v) in map(&step["with"]) {
                ctx.subst(&str_of(&v));
            }
            assert!(
                uses.starts_with("actions/cache/"),
                "unexpected action {uses}"
            );
            if let Some(id) = id {
                ctx.steps.insert(
                    id,
                    BTreeMap::from([("cache-hit".to_string(), "false".to_string())]),
                );
            }
            continue;
        }
        let script = str_of(&step["run"]);
        assert!(
            !script.contains("${{"),
            "step {name:?} pastes an expression into run:"
        );
        assert_eq!(
            step.get("shell").map(str_of).as_deref(),
            Some("bash"),
            "step {name:?}"
        );
        let files = runner.path().join(format!("step-{n}"));
        std::fs::create_dir_all(&files).unwrap();
        let (output, genv, gpath) = (files.join("output"), files.join("env"), files.join("path"));
        for f in [&output, &genv, &gpath] {
            std::fs::write(f, "").unwrap();
        }
        let script_file = files.join("script.sh");
        std::fs::write(&script_file, &script).unwrap();
        let mut path_var = extra_path.clone();
        path_var.push(path.to_string());
        let mut cmd = std::process::Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&script_file)
            .current_dir(workspace)
            .env_clear();
        cmd.env("PATH", path_var.join(":"))
            .env("HOME", runner.path())
            .env("CI", "true")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_WORKSPACE", workspace)
            .env("GITHUB_ACTION_PATH", &action_path)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_ENV", &genv)
            .env("GITHUB_PATH", &gpath)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("RUNNER_TEMP", &temp)
            .env("RUNNER_OS", "Linux")
            .env("RUNNER_ARCH", "X64")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        for (k, v) in &job_env {
            cmd.env(k, v);
        }
        for (k, v) in map(&step["env"]) {
            cmd.env(k, ctx.subst(&str_of(&v)));
        }
        let out = cmd.output().unwrap();
        log.push_str(&format!("--- {name} ({})\n", out.status));
        log.push_str(&support::text(&out.stdout));
        log.push_str(&support::text(&out.stderr));
        if let Some(id) = id {
            ctx.steps.insert(
                id,
                parse_output_file(&std::fs::read_to_string(&output).unwrap()),
            );
        }
        job_env.extend(parse_output_file(&std::fs::read_to_string(&genv).unwrap()));
        for line in std::fs::read_to_string(&gpath)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
        {
            extra_path.insert(0, line.to_string());
        }
        if !out.status.success() {
            ctx.failed = true;
        }
    }
    let outputs = map(&action["outputs"])
        .into_iter()
        .map(|(k, v)| (k, ctx.subst(&str_of(&v["value"]))))
        .collect();
    ActionRun {
        outputs,
        summary: std::fs::read_to_string(&summary).unwrap(),
        log,
        ran,
        failed: ctx.failed,
    }
}

/// Parses `$GITHUB_OUTPUT` / `$GITHUB_ENV`: `name=value` and `name<<DELIM … DELIM` lines; later ones win.
fn parse_output_file(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let heredoc = line
            .find("<<")
            .filter(|i| line.find('=').is_none_or(|e| e > *i));
        if let Some(i) = heredoc {
            let (name, delim) = (&line[..i], &line[i + 2..]);
            let mut value = Vec::new();
            loop {
                let l = lines
                    .next()
                    .unwrap_or_else(|| panic!("{name}: no closing {delim}"));
                if l == delim {
                    break;
                }
                value.push(l);
            }
            out.insert(name.to_string(), value.join("\n"));
        } else {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("bad output line {line:?}"));
            out.insert(name.to_string(), value.to_string());
        }
    }
    out
}

fn system_path() -> String {
    std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
}

/// A folder holding an executable `name` with `body`.
fn bin_with(dir: &Path, name: &str, body: &str) -> PathBuf {
    let bin = dir.join(format!("bin-{name}"));
    std::fs::create_dir_all(&bin).unwrap();
    let p = bin.join(name);
    std::fs::write(&p, body).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// A stand-in `prewarm` that records its argv (one per line) and two credentials, and writes outputs.
const RECORDER: &str = r#"#!/bin/sh
printf '%s\n' "$@" > "$RECORD/argv"
printf 'id=%s\nkey=%s\ninput_key=%s\n' "${TENCENTCLOUD_SECRET_ID-unset}" "${TENCENTCLOUD_SECRET_KEY-unset}" "${INPUT_SECRET_KEY-unset}" > "$RECORD/env"
printf 'pushed<<EOF_1\n7\nEOF_1\ndeferred<<EOF_2\n2\nEOF_2\ntask-ids<<EOF_3\nt-1\nt-2\nEOF_3\n' >> "$GITHUB_OUTPUT"
printf '## prewarm (recorder)\n' >> "$GITHUB_STEP_SUMMARY"
exit "${RECORDER_EXIT:-0}"
"#;

// ---------------------------------------------------------------------------------------------------------------
// Static checks.

#[test]
fn inputs_reach_the_scripts_only_through_env() {
    let action = load("action.yml");
    assert_eq!(str_of(&action["runs"]["using"]), "composite");
    let inputs = inputs_of(&action);
    for want in [
        "config",
        "dry-run",
        "secret-id",
        "secret-key",
        "sitemap",
        "dir",
        "changed",
        "git-diff",
        "state-key",
        "args",
    ] {
        assert!(inputs.contains_key(want), "missing input {want}");
    }
    assert_eq!(inputs["config"], "prewarm.toml");
    assert_eq!(
        outputs_of(&action),
        vec!["pushed", "deferred", "task-ids", "exit-code"]
    );
    let mut used = std::collections::BTreeSet::new();
    for step in steps_of(&action) {
        if let Some(run) = step.get("run") {
            let run = str_of(run);
            assert!(
                !run.contains("${{"),
                "an expression is pasted into run: {run}"
            );
            let words = run.split(|c: char| c.is_whitespace() || ";&|()`$".contains(c));
            assert!(!words.clone().any(|w| w == "eval"), "run: uses eval: {run}");
        }
        for (_, v) in map(&step["env"]).into_iter().chain(map(&step["with"])) {
            let v = str_of(&v);
            for name in v.split("inputs.").skip(1) {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                assert!(inputs.contains_key(&name), "unknown input {name}");
                used.insert(name);
            }
        }
    }
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        inputs.keys().cloned().collect::<Vec<_>>(),
        "every input is used"
    );
    // The secrets reach the binary under the names it reads, and are masked.
    let text = std::fs::read_to_string(support::root().join("action.yml")).unwrap();
    assert!(text.contains("export TENCENTCLOUD_SECRET_ID=\"$INPUT_SECRET_ID\""));
    assert!(text.contains("export TENCENTCLOUD_SECRET_KEY=\"$INPUT_SECRET_KEY\""));
    assert!(text.contains("::add-mask::$INPUT_SECRET_KEY"));
    assert!(text.contains("--format github"));
}

#[test]
fn the_example_workflow_uses_only_real_inputs_and_outputs() {
    let action = load("action.yml");
    let inputs = inputs_of(&action);
    let outputs = outputs_of(&action);
    let workflow = load("examples/deploy.yml");
    let text = std::fs::read_to_string(support::root().join("examples/deploy.yml")).unwrap();
    let mut ids = Vec::new();
    for (_, job) in map(&workflow["jobs"]) {
        for step in job["steps"].as_sequence().cloned().unwrap_or_default() {
            let uses = step.get("uses").map(str_of).unwrap_or_default();
            if uses.ends_with("/prewarm@v1") || uses == "./" {
                for (k, _) in map(&step["with"]) {
                    assert!(
                        inputs.contains_key(&k),
                        "examples/deploy.yml: `with: {k}` is not an input of action.yml"
                    );
                }
                ids.push(
                    step.get("id")
                        .map(str_of)
                        .expect("the prewarm step has an id"),
                );
            }
        }
    }
    assert_eq!(ids.len(), 1, "one prewarm step");
    let prefix = format!("steps.{}.outputs.", ids[0]);
    let read: Vec<String> = text
        .split(&prefix)
        .skip(1)
        .map(|s| {
            s.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect()
        })
        .collect();
    assert!(!read.is_empty(), "the example reads the action's outputs");
    for name in read {
        assert!(
            outputs.contains(&name),
            "examples/deploy.yml reads output {name:?}, which action.yml does not set"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The shell steps, with a recording stand-in for the binary.

#[test]
fn inputs_become_argv_words_and_are_never_evaluated() {
    let ws = tempfile::tempdir().unwrap();
    support::write_config(
        ws.path(),
        "[site]\ndomains = [\"https://www.example.com\"]\n",
    );
    let tools = tempfile::tempdir().unwrap();
    let bin = bin_with(tools.path(), "prewarm", RECORDER);
    let record = tools.path().join("record");
    std::fs::create_dir_all(&record).unwrap();
    let hostile = "$(touch pwned-1) `touch pwned-2`; touch pwned-3";
    let run = run_action(
        ws.path(),
        &[
            ("sitemap", "site map.xml"),
            ("dir", hostile),
            ("git-diff", "a..b"),
            ("secret-id", SECRET_ID),
            ("secret-key", SECRET_KEY),
            ("args", "--max-urls 5\n--all *  $HOME"),
        ],
        &format!("{}:{}", bin.display(), system_path()),
        &[("RECORD", record.display().to_string())],
    );
    assert!(!run.failed, "{}", run.log);
    for i in 1..=3 {
        assert!(
            !ws.path().join(format!("pwned-{i}")).exists(),
            "an input was evaluated by the shell"
        );
    }
    let state = ws.path().join(".prewarm/state.json");
    let argv: Vec<String> = std::fs::read_to_string(record.join("argv"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let want: Vec<String> = [
        "--format",
        "github",
        "--state",
        &state.display().to_string(),
        "--config",
        "prewarm.toml",
        "--sitemap",
        "site map.xml",
        "--dir",
        hostile,
        "--git-diff",
        "a..b",
        "--max-urls",
        "5",
        "--all",
        "*",
        "$HOME",
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    assert_eq!(argv, want);
    let env = std::fs::read_to_string(record.join("env")).unwrap();
    assert_eq!(
        env,
        format!("id={SECRET_ID}\nkey={SECRET_KEY}\ninput_key=unset\n")
    );
    assert!(
        run.log.contains(&format!("::add-mask::{SECRET_KEY}")),
        "{}",
        run.log
    );
    assert_eq!(run.outputs["pushed"], "7");
    assert_eq!(run.outputs["deferred"], "2");
    assert_eq!(run.outputs["task-ids"], "t-1\nt-2");
    assert_eq!(run.outputs["exit-code"], "0");
    assert_eq!(run.summary, "## prewarm (recorder)\n");
    // prewarm on PATH: nothing is built; the state is restored and saved.
    assert_eq!(
        run.ran,
        [
            "Locate prewarm and its state",
            "Restore prewarm state",
            "Run prewarm",
            "Save prewarm state"
        ]
    );
}

#[test]
fn a_failing_run_fails_the_step_but_still_saves_state_and_sets_exit_code() {
    let ws = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    let bin = bin_with(tools.path(), "prewarm", RECORDER);
    let record = tools.path().join("record");
    std::fs::create_dir_all(&record).unwrap();
    let path = format!("{}:{}", bin.display(), system_path());
    let run = run_action(
        ws.path(),
        &[],
        &path,
        &[
            ("RECORD", record.display().to_string()),
            ("RECORDER_EXIT", "1".into()),
        ],
    );
    assert!(run.failed);
    assert_eq!(run.outputs["exit-code"], "1");
    // State saved after every accepted batch must survive a failed run.
    assert_eq!(
        run.ran.last().map(String::as_str),
        Some("Save prewarm state"),
        "{:?}",
        run.ran
    );
    let argv = std::fs::read_to_string(record.join("argv")).unwrap();
    // No prewarm.toml in the workspace: the default config is not passed.
    assert!(!argv.contains("--config"), "{argv}");
    let env = std::fs::read_to_string(record.join("env")).unwrap();
    assert!(
        env.starts_with("id=unset\nkey=unset\n"),
        "empty secret inputs set no variable: {env}"
    );

    // A dry run writes no state, so there is nothing to save.
    let run = run_action(
        ws.path(),
        &[("dry-run", "true")],
        &path,
        &[("RECORD", record.display().to_string())],
    );
    assert!(!run.failed, "{}", run.log);
    let argv = std::fs::read_to_string(record.join("argv")).unwrap();
    assert!(argv.ends_with("--dry-run\n"), "{argv}");
    assert!(
        !run.ran.iter().any(|s| s == "Save prewarm state"),
        "{:?}",
        run.ran
    );
}

#[test]
fn bad_state_keys_and_dry_run_values_are_refused() {
    let ws = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    let bin = bin_with(tools.path(), "prewarm", RECORDER);
    let record = tools.path().join("record");
    std::fs::create_dir_all(&record).unwrap();
    let path = format!("{}:{}", bin.display(), system_path());
    let env = [("RECORD", record.display().to_string())];
    let run = run_action(ws.path(), &[("state-key", "a,b")], &path, &env);
    assert!(run.failed);
    assert!(
        run.log
            .contains("::error::prewarm action: state-key must be"),
        "{}",
        run.log
    );
    assert!(!record.join("argv").exists());
    let run = run_action(ws.path(), &[("dry-run", "yes")], &path, &env);
    assert!(run.failed);
    assert!(
        run.log
            .contains("::error::prewarm action: dry-run must be true or false"),
        "{}",
        run.log
    );
    assert!(!record.join("argv").exists(), "prewarm must not run");
}

#[test]
fn without_prewarm_on_path_it_is_built_from_the_action_s_source() {
    let ws = tempfile::tempdir().unwrap();
    let tools = tempfile::tempdir().unwrap();
    let record = tools.path().join("record");
    std::fs::create_dir_all(&record).unwrap();
    // A stand-in cargo: records its argv and "installs" the recorder as $ROOT/bin/prewarm.
    let cargo = bin_with(
        tools.path(),
        "cargo",
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$RECORD/cargo-argv\"\nwhile [ \"$1\" != --root ]; do shift; done\n\
             mkdir -p \"$2/bin\"\ncat > \"$2/bin/prewarm\" <<'EOF'\n{RECORDER}EOF\nchmod +x \"$2/bin/prewarm\"\n"
        ),
    );
    // Only the system folders: a prewarm installed on this machine must not be found.
    let run = run_action(
        ws.path(),
        &[],
        &format!("{}:/usr/bin:/bin", cargo.display()),
        &[("RECORD", record.display().to_string())],
    );
    assert!(!run.failed, "{}", run.log);
    let cargo_argv = std::fs::read_to_string(record.join("cargo-argv")).unwrap();
    let root = support::root().display().to_string();
    assert!(
        cargo_argv.starts_with(&format!("install\n--locked\n--path\n{root}\n--root\n")),
        "{cargo_argv}"
    );
    assert!(record.join("argv").exists(), "the built prewarm ran");
    assert_eq!(run.outputs["pushed"], "7");
    assert!(run.ran.iter().any(|s| s == "Restore the prewarm binary"));
    assert!(run.ran.iter().any(|s| s == "Save the prewarm binary"));
}

// ---------------------------------------------------------------------------------------------------------------
// The real binary against the fake CDN.

fn real_prewarm_path(dir: &Path) -> String {
    let bin = dir.join("bin-real");
    std::fs::create_dir_all(&bin).unwrap();
    let exe = assert_cmd::cargo::cargo_bin("prewarm");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&exe, bin.join("prewarm")).unwrap();
    format!("{}:{}", bin.display(), system_path())
}

#[test]
fn the_action_pushes_against_the_fake_cdn_and_keeps_state_between_runs() {
    let fake = support::FakeCdn::start(support::fake_config(prewarm::config::Api::V3)).unwrap();
    let ws = tempfile::tempdir().unwrap();
    support::site(ws.path(), 3, "v3", "");
    let tools = tempfile::tempdir().unwrap();
    let path = real_prewarm_path(tools.path());
    let env = [("PREWARM_ENDPOINT", fake.endpoint().to_string())];
    let with = [("secret-id", SECRET_ID), ("secret-key", SECRET_KEY)];

    let run = run_action(ws.path(), &with, &path, &env);
    assert!(!run.failed, "{}", run.log);
    assert_eq!(run.outputs["pushed"], "3", "{}", run.log);
    assert_eq!(run.outputs["deferred"], "0");
    assert_eq!(run.outputs["exit-code"], "0");
    assert!(
        !run.outputs["task-ids"].trim().is_empty(),
        "{:?}",
        run.outputs
    );
    assert!(run.summary.starts_with("## prewarm\n"), "{}", run.summary);
    assert!(
        run.summary.contains("| pushed | 3 URLs in "),
        "{}",
        run.summary
    );
    let mut urls = fake.accepted_urls();
    urls.sort();
    assert_eq!(
        urls,
        (0..3)
            .map(|i| format!("https://www.example.com/page-{i:04}.html"))
            .collect::<Vec<_>>()
    );
    assert!(
        ws.path().join(".prewarm/state.json").is_file(),
        "state lands in the cached folder"
    );

    // The next workflow run restores the state: nothing changed, nothing is pushed.
    let again = run_action(ws.path(), &with, &path, &env);
    assert!(!again.failed, "{}", again.log);
    assert_eq!(again.outputs["pushed"], "0", "{}", again.log);
    assert_eq!(fake.accepted_urls().len(), 3);
    // The only place the SecretKey may appear is the runner's own mask command.
    let leaked = again
        .log
        .lines()
        .chain(run.log.lines())
        .filter(|l| l.contains(SECRET_KEY) && !l.starts_with("::add-mask::"));
    assert_eq!(leaked.count(), 0, "{}", run.log);
}

#[test]
fn a_dry_run_through_the_action_needs_no_credentials_and_pushes_nothing() {
    let fake = support::FakeCdn::start(support::fake_config(prewarm::config::Api::V3)).unwrap();
    let ws = tempfile::tempdir().unwrap();
    support::site(ws.path(), 2, "v3", "");
    let tools = tempfile::tempdir().unwrap();
    let path = real_prewarm_path(tools.path());
    let run = run_action(
        ws.path(),
        &[("dry-run", "true")],
        &path,
        &[("PREWARM_ENDPOINT", fake.endpoint().to_string())],
    );
    assert!(!run.failed, "{}", run.log);
    assert_eq!(run.outputs["pushed"], "0");
    assert_eq!(run.outputs["exit-code"], "0");
    assert!(
        run.summary.starts_with("## prewarm (dry run)"),
        "{}",
        run.summary
    );
    assert!(fake.accepted_urls().is_empty());
    assert!(
        !ws.path().join(".prewarm/state.json").exists(),
        "a dry run writes no state"
    );
}

#[test]
fn the_readme_shows_the_example_workflow_as_it_is() {
    let example = std::fs::read_to_string(support::root().join("examples/deploy.yml")).unwrap();
    let first = example.lines().next().unwrap();
    let docs: Vec<String> = ["README.md"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(support::root().join(p)).ok())
        .filter(|t| t.contains(first))
        .collect();
    assert!(
        !docs.is_empty(),
        "README.md does not show examples/deploy.yml"
    );
    for text in docs {
        let start = text.find(first).unwrap();
        let block = &text[start..start + text[start..].find("```").unwrap()];
        assert_eq!(
            block, example,
            "the README's copy of examples/deploy.yml is out of date"
        );
    }
}
