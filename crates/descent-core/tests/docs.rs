//! The docs match the code: the op table of `docs/ARCHITECTURE.md` lists exactly the public ops of
//! each `src/ops/<family>.rs` file, and every family file is in the table.
//!
//! The ops of a file are read from its source: `pub fn` in `impl Tensor`, `impl Var` and
//! `impl IntTensor` blocks, one-line `panicking!` declarations (`name = try_name(..)`), lines of
//! the `unary_ops!` table (`name(..) => UnaryOp::..`) and of the binary, comparison and reduction
//! tables (`name, try_name, ...;`); a `try_` prefix is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn ident_prefix(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

fn strip_try(name: &str) -> String {
    name.strip_prefix("try_").unwrap_or(name).to_string()
}

/// The public op names defined in one family file.
fn ops_in_source(src: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut current_impl: Option<String> = None;
    for line in src.lines() {
        let t = line.trim();
        if line.starts_with("impl") && t.ends_with('{') {
            let mut words = t.split_whitespace().skip(1);
            let mut ty = words.next().unwrap_or("");
            if ty.starts_with('<') {
                ty = words.next().unwrap_or("");
            }
            current_impl = Some(ident_prefix(ty).to_string());
            continue;
        }
        if line.starts_with('}') {
            current_impl = None;
            continue;
        }
        if let Some(rest) = t.strip_prefix("pub fn ")
            && matches!(
                current_impl.as_deref(),
                Some("Tensor" | "Var" | "IntTensor")
            )
        {
            names.insert(strip_try(ident_prefix(rest)));
            continue;
        }
        // `name = try_name(args) -> Ret;` in a `panicking!` block.
        if let Some((lhs, rhs)) = t.split_once(" = ")
            && is_ident(lhs)
            && rhs.starts_with("try_")
            && t.ends_with(';')
        {
            names.insert(lhs.to_string());
            continue;
        }
        // `name(args) => UnaryOp::X;` in the `unary_ops!` table.
        if t.contains(") => UnaryOp::") {
            names.insert(ident_prefix(t).to_string());
            continue;
        }
        // `name, try_name[, name_all | name_scalar], Op;` in a binary/comparison/reduction table.
        if t.ends_with(';') && !t.starts_with("//") {
            let parts: Vec<&str> = t.trim_end_matches(';').split(", ").collect();
            if parts.len() >= 3 && is_ident(parts[0]) && parts[1] == format!("try_{}", parts[0]) {
                for p in &parts[..parts.len() - 1] {
                    if is_ident(p) && !p.starts_with("try_") {
                        names.insert(p.to_string());
                    }
                }
            }
        }
    }
    names
}

/// The op table of ARCHITECTURE.md: `| `ops/<file>.rs` | op op op |`.
fn ops_in_docs(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut table = BTreeMap::new();
    for line in doc.lines() {
        let Some(rest) = line.strip_prefix("| `ops/") else {
            continue;
        };
        let cells: Vec<&str> = rest.split('|').collect();
        let file = cells[0].trim().trim_end_matches('`').to_string();
        let ops = cells[1]
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '`' || c == ','))
            .filter(|w| !w.is_empty())
            .map(String::from)
            .collect();
        table.insert(file, ops);
    }
    table
}

#[test]
fn architecture_op_table_lists_exactly_the_ops_of_each_family_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("../../docs/ARCHITECTURE.md"))
        .expect("docs/ARCHITECTURE.md");
    let table = ops_in_docs(&doc);
    assert!(table.len() >= 10, "the op table was not found: {table:?}");
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(root.join("src/ops")).expect("src/ops") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".rs") || name == "mod.rs" {
            continue;
        }
        let code = ops_in_source(&std::fs::read_to_string(&path).expect("source"));
        assert!(!code.is_empty(), "no ops found in {name}");
        let docs = table.get(&name).unwrap_or_else(|| {
            panic!("ops/{name} is missing from the op table of docs/ARCHITECTURE.md")
        });
        let missing: Vec<_> = code.difference(docs).collect();
        let extra: Vec<_> = docs.difference(&code).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "docs/ARCHITECTURE.md, row ops/{name}: missing {missing:?}, not in the code {extra:?}"
        );
        files.insert(name);
    }
    let stale: Vec<_> = table.keys().filter(|f| !files.contains(*f)).collect();
    assert!(
        stale.is_empty(),
        "the op table names files that do not exist: {stale:?}"
    );
}

#[test]
fn the_scanner_sees_each_kind_of_declaration() {
    let src = r#"
impl Tensor {
    pub fn try_reshape(&self) -> Result<Tensor> {}
    pub(crate) fn helper(&self) {}
}
impl Conv2dParams {
    pub fn stride(mut self) -> Self {}
}
panicking! { Tensor, Var:
    /// Doc.
    narrow = try_narrow(axis: isize) -> Self;
}
unary_ops! {
    tanh() => UnaryOp::Tanh;
}
binary_ops! {
    add, try_add, Add;
}
reductions! {
    sum, try_sum, sum_all, Reduction::Sum;
}
"#;
    let got: Vec<String> = ops_in_source(src).into_iter().collect();
    assert_eq!(
        got,
        ["add", "narrow", "reshape", "sum", "sum_all", "tanh"].map(String::from)
    );
}
