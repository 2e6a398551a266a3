//! The workspace's structural rules, checked (docs/architecture.md, "Dependency rules"):
//!
//! * the crate graph: no crate depends, directly or through another crate, on anything the table
//!   in docs/architecture.md says it must never depend on, and crates marked as leaves have no
//!   dependents (read from `cargo metadata`, so the table and the manifests cannot drift apart);
//! * no import cycles between the files of a crate (`use crate::…`, `super::…`, `self::…` and a
//!   parent's own use of a child module; re-exports and test modules aside);
//! * no `.rs` file under `node/*/src` or `bridge/src` longer than 800 lines, its test module
//!   aside.
//! * build-time crates (procedural macros, build-script dependencies) are built without
//!   optimisation in the test profile, and no crate the tests run is (see Cargo.toml).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

const MAX_LINES: usize = 800;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

// ---------------------------------------------------------------------------------------------
// The crate graph.

/// One row of the rules table.
#[derive(Debug)]
struct Rule {
    krate: String,
    never: Vec<String>,
    /// `None`: anyone may depend on it; `Some(list)`: only these (normal dependencies; any crate
    /// may still take it as a dev-dependency).
    dependents: Option<Vec<String>>,
}

fn backticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn rules() -> Vec<Rule> {
    let doc = std::fs::read_to_string(root().join("docs/architecture.md"))
        .expect("docs/architecture.md exists");
    let mut in_section = false;
    let mut out = Vec::new();
    for line in doc.lines() {
        if line.starts_with("## ") {
            in_section = line.trim() == "## Dependency rules";
            continue;
        }
        if !in_section || !line.starts_with("| `") {
            continue;
        }
        let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
        assert!(
            cells.len() == 4,
            "a rules row has 4 cells (crate | what it is | never depends on | normal dependents): {line}"
        );
        let krate = backticked(cells[0]).into_iter().next().expect("crate name");
        let dependents = if cells[3].trim() == "any" {
            None
        } else {
            Some(backticked(cells[3]))
        };
        out.push(Rule {
            krate,
            never: backticked(cells[2]),
            dependents,
        });
    }
    assert!(!out.is_empty(), "no rules found in docs/architecture.md");
    out
}

struct Graph {
    members: BTreeSet<String>,
    /// Normal (non-dev, non-build) dependencies, by package name.
    normal: HashMap<String, BTreeSet<String>>,
}

/// The standard output of `cargo <args>` run at the workspace root (it must succeed).
fn cargo(args: &[&str]) -> Vec<u8> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn metadata() -> Graph {
    let out = cargo(&["metadata", "--format-version", "1", "--locked"]);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("metadata is JSON");
    let mut name_of = HashMap::new();
    for p in v["packages"].as_array().expect("packages") {
        name_of.insert(
            p["id"].as_str().expect("id").to_string(),
            p["name"].as_str().expect("name").to_string(),
        );
    }
    let members = v["workspace_members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|id| name_of[id.as_str().expect("id")].clone())
        .collect();
    let mut normal: HashMap<String, BTreeSet<String>> = HashMap::new();
    for node in v["resolve"]["nodes"].as_array().expect("resolve") {
        let from = name_of[node["id"].as_str().expect("id")].clone();
        let entry = normal.entry(from).or_default();
        for dep in node["deps"].as_array().expect("deps") {
            let is_normal = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].is_null());
            if is_normal {
                entry.insert(name_of[dep["pkg"].as_str().expect("pkg")].clone());
            }
        }
    }
    Graph { members, normal }
}

impl Graph {
    /// Every crate `krate` depends on through normal dependencies, with one path to each.
    fn closure(&self, krate: &str) -> BTreeMap<String, Vec<String>> {
        let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut stack = vec![(krate.to_string(), vec![krate.to_string()])];
        while let Some((k, path)) = stack.pop() {
            for d in self.normal.get(&k).into_iter().flatten() {
                if !seen.contains_key(d) {
                    let mut p = path.clone();
                    p.push(d.clone());
                    seen.insert(d.clone(), p.clone());
                    stack.push((d.clone(), p));
                }
            }
        }
        seen
    }
}

#[test]
fn crate_graph_follows_the_documented_rules() {
    let rules = rules();
    let graph = metadata();
    let mut broken = Vec::new();
    let ruled: BTreeSet<&str> = rules.iter().map(|r| r.krate.as_str()).collect();
    for m in &graph.members {
        if !ruled.contains(m.as_str()) {
            broken.push(format!(
                "workspace crate `{m}` has no row in docs/architecture.md's rules table"
            ));
        }
    }
    for r in &rules {
        if !graph.members.contains(&r.krate) {
            broken.push(format!(
                "the rules table names `{}`, which is not a workspace crate",
                r.krate
            ));
            continue;
        }
        let closure = graph.closure(&r.krate);
        for banned in &r.never {
            let hits: Vec<&String> = if banned == "pars-*" {
                closure
                    .keys()
                    .filter(|k| graph.members.contains(*k) && k.as_str() != "pars-error")
                    .collect()
            } else {
                closure.keys().filter(|k| *k == banned).collect()
            };
            for hit in hits {
                broken.push(format!(
                    "`{}` must never depend on `{hit}`, but does: {}",
                    r.krate,
                    closure[hit].join(" → ")
                ));
            }
        }
        if let Some(allowed) = &r.dependents {
            for m in &graph.members {
                if m != &r.krate
                    && graph.normal.get(m).is_some_and(|d| d.contains(&r.krate))
                    && !allowed.contains(m)
                {
                    let who = if allowed.is_empty() {
                        "no other crate may depend on".to_string()
                    } else {
                        format!("only {} may depend on", allowed.join(", "))
                    };
                    broken.push(format!(
                        "`{m}` depends on `{}`, which {who} (dev-dependencies aside)",
                        r.krate
                    ));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "crate graph rules broken:\n{}",
        broken.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Build profile.

/// The `name = { opt-level = N }` entries of the workspace's `[profile.dev.package]` table.
fn dev_package_opt_levels() -> BTreeMap<String, String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    let mut in_table = false;
    let mut out = BTreeMap::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_table = line == "[profile.dev.package]";
            continue;
        }
        if !in_table || line.starts_with('#') {
            continue;
        }
        if let Some((name, rest)) = line.split_once('=')
            && let Some(level) = rest.split("opt-level").nth(1)
        {
            let level = level.trim_start_matches([' ', '=']);
            let level: String = level.chars().take_while(|c| c.is_ascii_digit()).collect();
            out.insert(name.trim().trim_matches('"').to_string(), level);
        }
    }
    out
}

/// The packages of the workspace's graph along `edges` (`cargo tree -e <edges>`).
fn tree_packages(edges: &str) -> BTreeSet<String> {
    let out = cargo(&[
        "tree",
        "--workspace",
        "--locked",
        "-e",
        edges,
        "--prefix",
        "none",
        "-f",
        "{p}",
    ]);
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn build_time_crates_are_built_without_optimisation_and_nothing_else_is() {
    // `[profile.dev.package."*"]` (opt-level 3 for every dependency, for fast tests) outranks
    // `build-override`, so a procedural macro or build-script dependency not named at opt-level
    // 0 is built at 3: slower to compile, no faster for anything the tests run
    // (docs/performance.md, "CI"). And a crate the tests run must not be at 0.
    let levels = dev_package_opt_levels();
    assert_eq!(levels.get("*").map(String::as_str), Some("3"), "{levels:?}");
    let all = tree_packages("all");
    let runtime = tree_packages("normal,dev,no-proc-macro");
    assert!(
        all.contains("syn") && !runtime.contains("syn"),
        "cargo tree reads"
    );
    let build_time: BTreeSet<&String> = all.difference(&runtime).collect();
    let missing: Vec<&&String> = build_time
        .iter()
        .filter(|m| levels.get(**m).map(String::as_str) != Some("0"))
        .collect();
    assert!(
        missing.is_empty(),
        "build-time crates without `name = {{ opt-level = 0 }}` in Cargo.toml's \
         [profile.dev.package]: {missing:?}"
    );
    let slowed: Vec<&String> = levels
        .iter()
        .filter(|(name, level)| level.as_str() == "0" && runtime.contains(*name))
        .map(|(name, _)| name)
        .collect();
    assert!(
        slowed.is_empty(),
        "crates the tests run are built at opt-level 0: {slowed:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Files of a crate.

/// The crates' source roots: every `src/` of a workspace crate under node/ and bridge/.
fn source_dirs() -> Vec<PathBuf> {
    let root = root();
    let mut dirs = vec![root.join("bridge/src")];
    let mut nodes: Vec<PathBuf> = std::fs::read_dir(root.join("node"))
        .expect("node/")
        .map(|e| e.expect("entry").path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    nodes.sort();
    dirs.extend(nodes);
    dirs
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Lines of a file before its test module (a top-level `#[cfg(test)]` item at the end).
fn non_test_lines(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .iter()
        .position(|l| l.starts_with("#[cfg(test)]"))
        .unwrap_or(lines.len())
}

#[test]
fn no_source_file_is_over_800_lines() {
    let root = root();
    let mut long = Vec::new();
    for dir in source_dirs() {
        let mut files = Vec::new();
        rs_files(&dir, &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).expect("readable");
            let n = non_test_lines(&text);
            if n > MAX_LINES {
                long.push(format!(
                    "{}: {n} lines",
                    f.strip_prefix(&root).unwrap_or(&f).display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by concern):\n{}",
        long.join("\n")
    );
}

/// Source text with comments, string and char literals blanked out (newlines kept).
fn strip(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            // Raw string r"…" or r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&b'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c as char);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == b'"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&b'#')) {
                    j += 1 + hashes;
                    break;
                }
                if b[j] == b'\n' {
                    out.push('\n');
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == b'\'' {
            // A char literal ('a', '\n', '\u{..}') or a lifetime ('a).
            let close = if b.get(i + 1) == Some(&b'\\') {
                b[i + 2..]
                    .iter()
                    .position(|&x| x == b'\'')
                    .map(|p| i + 2 + p)
            } else if b.get(i + 2) == Some(&b'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) => {
                    out.push_str("' '");
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c as char);
            i += 1;
        }
    }
    out
}

/// A module file of a crate: its module path (`["relay", "core"]`) and its file.
#[derive(Debug, Clone)]
struct ModFile {
    path: Vec<String>,
    file: PathBuf,
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The `mod name;` declarations (out-of-line modules) of a stripped file, with an optional
/// `#[path = "…"]` (read from the raw text, since strings are blanked in the stripped one).
fn declared_mods(raw: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut pending_path: Option<String> = None;
    for line in raw.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("#[path = \"") {
            pending_path = rest.split('"').next().map(str::to_string);
            continue;
        }
        let t = t
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ");
        if let Some(rest) = t.strip_prefix("mod ")
            && let Some(name) = rest.strip_suffix(';')
            && name.bytes().all(is_ident_byte)
        {
            out.push((name.to_string(), pending_path.take()));
            continue;
        }
        if !t.starts_with("#[") {
            pending_path = None;
        }
    }
    out
}

/// The module tree of one crate root (lib.rs, main.rs or a bin).
fn module_tree(root_file: &Path) -> Vec<ModFile> {
    let mut out = vec![ModFile {
        path: vec![],
        file: root_file.to_path_buf(),
    }];
    let mut i = 0;
    while i < out.len() {
        let m = out[i].clone();
        i += 1;
        let raw = std::fs::read_to_string(&m.file).expect("readable");
        let dir = m.file.parent().expect("dir").to_path_buf();
        let stem = m
            .file
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let child_dir = if m.path.is_empty() || stem == "mod" {
            dir.clone()
        } else {
            dir.join(&stem)
        };
        for (name, explicit) in declared_mods(&raw) {
            let file = match explicit {
                Some(p) => dir.join(p),
                None => {
                    let a = child_dir.join(format!("{name}.rs"));
                    if a.exists() {
                        a
                    } else {
                        child_dir.join(&name).join("mod.rs")
                    }
                }
            };
            if file.exists() {
                let mut path = m.path.clone();
                path.push(name);
                out.push(ModFile { path, file });
            }
        }
    }
    out
}

/// Reads a path after a prefix: `a::b::{c::D, e}` → [["a","b","c","D"], ["a","b","e"]].
fn read_paths(b: &[u8], mut i: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut segs = prefix;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'{' {
            i += 1;
            loop {
                while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
                    i += 1;
                }
                if i >= b.len() || b[i] == b'}' {
                    return i + 1;
                }
                i = read_paths(b, i, segs.clone(), out);
            }
        }
        let start = i;
        while i < b.len() && is_ident_byte(b[i]) {
            i += 1;
        }
        if i > start {
            segs.push(String::from_utf8_lossy(&b[start..i]).into_owned());
        } else if i < b.len() && b[i] == b'*' {
            i += 1;
        }
        if b.get(i) == Some(&b':') && b.get(i + 1) == Some(&b':') {
            i += 2;
            continue;
        }
        out.push(segs);
        return i;
    }
}

/// Items a module re-exports (`pub use`, `pub(crate) use`): name → the absolute module path
/// it comes from.
fn reexports_of(m: &ModFile) -> HashMap<String, Vec<String>> {
    let raw = std::fs::read_to_string(&m.file).expect("readable");
    let text = strip(&raw);
    let b = text.as_bytes();
    let mut out = HashMap::new();
    for marker in ["pub use ", "pub(crate) use "] {
        let mut i = 0;
        while let Some(p) = text[i..].find(marker) {
            let at = i + p + marker.len();
            let mut paths = Vec::new();
            i = read_paths(b, at, vec![], &mut paths);
            for p in paths {
                let Some(name) = p.last() else { continue };
                if p.len() < 2 {
                    continue;
                }
                let mut from = match p[0].as_str() {
                    "crate" => vec![],
                    "self" => m.path.clone(),
                    "super" => {
                        let mut h = m.path.clone();
                        h.pop();
                        h
                    }
                    _ => {
                        let mut h = m.path.clone();
                        h.push(p[0].clone());
                        h
                    }
                };
                from.extend(
                    p[1..p.len() - 1]
                        .iter()
                        .filter(|s| s.as_str() != "self")
                        .cloned(),
                );
                out.insert(name.clone(), from);
            }
        }
    }
    out
}

/// The file-level import edges of one crate root's module tree.
fn file_edges(tree: &[ModFile]) -> BTreeMap<usize, BTreeMap<usize, String>> {
    let by_path: HashMap<Vec<String>, usize> = tree
        .iter()
        .enumerate()
        .map(|(i, m)| (m.path.clone(), i))
        .collect();
    let reexports: Vec<HashMap<String, Vec<String>>> = tree.iter().map(reexports_of).collect();
    // The longest module-file prefix of a path, following re-exports (`crate::Name` where the
    // root re-exports `Name` from `a::b` is a use of `a/b.rs`).
    let resolve = |abs: &[String]| -> Option<usize> {
        let mut abs = abs.to_vec();
        for _ in 0..8 {
            let n = (0..=abs.len())
                .rev()
                .find(|n| by_path.contains_key(&abs[..*n]))?;
            let idx = by_path[&abs[..n]];
            match abs.get(n).and_then(|name| reexports[idx].get(name)) {
                Some(from) if from != &abs[..n] => {
                    let mut next = from.clone();
                    next.extend_from_slice(&abs[n..]);
                    abs = next;
                }
                _ => return Some(idx),
            }
        }
        None
    };
    let mut edges: BTreeMap<usize, BTreeMap<usize, String>> = BTreeMap::new();
    for (fi, m) in tree.iter().enumerate() {
        let raw = std::fs::read_to_string(&m.file).expect("readable");
        let text = strip(&raw);
        let b = text.as_bytes();
        let children: BTreeSet<String> = tree
            .iter()
            .filter(|c| c.path.len() == m.path.len() + 1 && c.path.starts_with(&m.path))
            .map(|c| c.path[m.path.len()].clone())
            .collect();
        // Inline modules: (name, brace depth at which it closes, is a test module).
        let mut inline: Vec<(String, usize, bool)> = Vec::new();
        let mut depth = 0usize;
        let mut last_attr_test = false;
        let mut stmt_start = 0usize;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c == b'{' {
                depth += 1;
                i += 1;
                stmt_start = i;
                continue;
            }
            if c == b'}' {
                if let Some((_, d, _)) = inline.last()
                    && *d == depth
                {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
                stmt_start = i;
                continue;
            }
            if c == b';' {
                i += 1;
                stmt_start = i;
                continue;
            }
            if !is_ident_byte(c) || (i > 0 && (is_ident_byte(b[i - 1]) || b[i - 1] == b'$')) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && is_ident_byte(b[i]) {
                i += 1;
            }
            let word = &text[start..i];
            if start >= 2 && &b[start - 2..start] == b"::" {
                // The middle of a path (`std::error::Error`), not its start.
                continue;
            }
            if word == "cfg" && text[i..].starts_with("(test)") {
                last_attr_test = true;
                continue;
            }
            if word == "mod" {
                let mut j = i;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let ns = j;
                while j < b.len() && is_ident_byte(b[j]) {
                    j += 1;
                }
                let name = text[ns..j].to_string();
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if b.get(j) == Some(&b'{') {
                    inline.push((name, depth + 1, last_attr_test));
                }
                last_attr_test = false;
                continue;
            }
            if word == "fn" || word == "struct" || word == "enum" || word == "impl" || word == "use"
            {
                last_attr_test = false;
            }
            if inline.iter().any(|(_, _, t)| *t) {
                continue;
            }
            if !(b.get(i) == Some(&b':') && b.get(i + 1) == Some(&b':')) {
                continue;
            }
            // The module this code is in: the file's, plus inline modules.
            let mut here = m.path.clone();
            here.extend(inline.iter().map(|(n, _, _)| n.clone()));
            let mut stmt = text[stmt_start..start].trim_start();
            while stmt.starts_with("#[") {
                // Attributes (`#[cfg(feature = "…")]`) before the statement.
                match stmt.find(']') {
                    Some(e) => stmt = stmt[e + 1..].trim_start(),
                    None => break,
                }
            }
            let reexport = stmt.starts_with("pub use")
                || stmt.starts_with("pub(crate) use")
                || stmt.starts_with("pub(super) use");
            let base: Vec<String> = match word {
                "crate" => vec![],
                "super" => {
                    let mut h = here.clone();
                    h.pop();
                    let mut j = i + 2;
                    while text[j..].starts_with("super::") {
                        h.pop();
                        j += "super::".len();
                    }
                    i = j - 2;
                    h
                }
                "self" => here.clone(),
                w if inline.is_empty() && children.contains(w) && !reexport => {
                    // A parent's own use of its child module (`child::Item`).
                    let mut h = m.path.clone();
                    h.push(w.to_string());
                    h
                }
                _ => continue,
            };
            let mut paths = Vec::new();
            i = read_paths(b, i + 2, base, &mut paths);
            if reexport && (word == "self" || word == "crate") {
                continue;
            }
            for p in paths {
                if let Some(to) = resolve(&p)
                    && to != fi
                {
                    let line = text[..start].matches('\n').count() + 1;
                    edges
                        .entry(fi)
                        .or_default()
                        .entry(to)
                        .or_insert_with(|| format!("line {line}: {}", p.join("::")));
                }
            }
        }
    }
    edges
}

/// Strongly connected components with more than one file (Tarjan).
fn cycles(n: usize, edges: &BTreeMap<usize, BTreeMap<usize, String>>) -> Vec<Vec<usize>> {
    struct T<'a> {
        edges: &'a BTreeMap<usize, BTreeMap<usize, String>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T<'_>, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        let succ: Vec<usize> = t
            .edges
            .get(&v)
            .into_iter()
            .flat_map(|m| m.keys())
            .copied()
            .collect();
        for w in succ {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                _ => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                comp.push(w);
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                t.out.push(comp);
            }
        }
    }
    let mut t = T {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    t.out
}

fn crate_roots(src: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
        .iter()
        .map(|f| src.join(f))
        .filter(|p| p.exists())
        .collect();
    if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
        let mut b: Vec<PathBuf> = bins
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        b.sort();
        roots.extend(b);
    }
    roots
}

/// Cycles that exist and are still to be broken, each with what breaks it: `(cycle, hint)`, the
/// cycle's files joined by " ↔ " as the test prints them. The test fails on any other cycle, and
/// on a listed one that no longer exists (take it off the list then). None is known now; a cycle
/// that cannot be broken at once goes here, and in docs/architecture.md, until it is.
const KNOWN_CYCLES: &[(&str, &str)] = &[];

#[test]
fn no_import_cycles_between_the_files_of_a_crate() {
    let root = root();
    let mut found = Vec::new();
    let mut seen_known: BTreeSet<&str> = BTreeSet::new();
    for src in source_dirs() {
        for r in crate_roots(&src) {
            let tree = module_tree(&r);
            let edges = file_edges(&tree);
            let name = |i: usize| {
                let f = &tree[i].file;
                f.strip_prefix(&root).unwrap_or(f).display().to_string()
            };
            for comp in cycles(tree.len(), &edges) {
                let names: Vec<String> = comp.iter().map(|&i| name(i)).collect();
                let joined = names.join(" ↔ ");
                seen_known.extend(
                    KNOWN_CYCLES
                        .iter()
                        .filter(|(c, _)| *c == joined)
                        .map(|(c, _)| *c),
                );
                if KNOWN_CYCLES.iter().any(|(c, _)| *c == joined) {
                    continue;
                }
                found.push(joined);
                for &a in &comp {
                    for (b, why) in edges.get(&a).into_iter().flatten() {
                        if comp.contains(b) {
                            found.push(format!("    {} → {} ({why})", name(a), name(*b)));
                        }
                    }
                }
            }
        }
    }
    for (c, _) in KNOWN_CYCLES {
        if !seen_known.contains(c) {
            found.push(format!(
                "this cycle is gone, take it off KNOWN_CYCLES in tests/tests/architecture.rs and docs/architecture.md: {c}"
            ));
        }
    }
    assert!(
        found.is_empty(),
        "files that import each other in a circle (move what they share into a file both use):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    // The checker itself: two sibling files that use each other, and a parent that uses its child
    // which uses the parent back, are found; a re-export is not an edge.
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\npub mod p;\npub use a::Thing;\n/* crate::b::X */\n",
    )
    .expect("write");
    std::fs::write(
        src.join("a.rs"),
        "use crate::b::Other;\npub struct Thing;\n",
    )
    .expect("write");
    std::fs::write(
        src.join("b.rs"),
        "pub struct Other;\nfn f() -> crate::Thing { let _s = \"crate::p::Q\"; crate::Thing }\n",
    )
    .expect("write");
    std::fs::create_dir(src.join("p")).expect("mkdir");
    std::fs::write(
        src.join("p/mod.rs"),
        "mod q;\npub use q::Q;\npub struct Shared;\n",
    )
    .expect("write");
    std::fs::write(
        src.join("p/q.rs"),
        "pub struct Q(super::Shared);\n#[cfg(test)]\nmod tests { use crate::a::Thing; }\n",
    )
    .expect("write");
    let tree = module_tree(&src.join("lib.rs"));
    assert_eq!(tree.len(), 5);
    let found = cycles(tree.len(), &file_edges(&tree));
    let names: Vec<Vec<String>> = found
        .iter()
        .map(|c| c.iter().map(|&i| tree[i].path.join("::")).collect())
        .collect();
    assert_eq!(names, vec![vec!["a".to_string(), "b".to_string()]]);

    // The parent's own use of the child closes the circle.
    std::fs::write(
        src.join("p/mod.rs"),
        "mod q;\npub struct Shared;\nfn g(_q: q::Q) {}\n",
    )
    .expect("write");
    let found = cycles(tree.len(), &file_edges(&tree));
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(non_test_lines("a\nb\n#[cfg(test)]\nmod tests {}\n"), 2);
}
