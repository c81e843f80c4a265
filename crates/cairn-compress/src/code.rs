//! Source code, read with tree-sitter: imports folded, type and function
//! signatures kept, the first line of each docstring kept, the bodies of
//! query-relevant symbols kept whole, and every other body cut to a marker
//! naming the symbol ("42 lines omitted: 40 TextWrapper._wrap_chunks()").
//!
//! The language is told from the content (Python, JavaScript, TypeScript,
//! Go, Rust, Java, C, C++). Text none of the grammars reads cleanly, or too
//! big or too costly to parse, gets the line outline instead: parsing is
//! bounded by work done, never by time, so views stay deterministic.

use cairn_core::CcrRef;
use tree_sitter::{Node, ParseOptions, Parser, Tree};

use crate::QueryMatcher;
use crate::lines::{Line, Priority, Selected, select_indented};

/// Larger sources get the line outline: parsing them costs more than it saves.
pub const MAX_PARSE_BYTES: usize = 8 << 20;
/// The parser reports progress every 100 operations or so; a parse that
/// reports more than this many times per byte is abandoned (error recovery
/// on garbage can be superlinear).
const PROGRESS_PER_KIB: usize = 40;
/// Above this share of bytes in error nodes, a parse is not trusted.
const MAX_ERROR_PERMILLE: usize = 100;
/// At or below this share, the first guess is taken without trying another.
const CLEAN_ENOUGH_PERMILLE: usize = 20;
/// A statement spanning more rows than this keeps only its first.
const SHORT_STATEMENT_ROWS: usize = 4;

/// The languages the code compressor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Python,
    JavaScript,
    TypeScript,
    Go,
    Rust,
    Java,
    C,
    Cpp,
}

impl Language {
    pub const ALL: &'static [Language] = &[
        Language::Python,
        Language::JavaScript,
        Language::TypeScript,
        Language::Go,
        Language::Rust,
        Language::Java,
        Language::C,
        Language::Cpp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Go => "go",
            Language::Rust => "rust",
            Language::Java => "java",
            Language::C => "c",
            Language::Cpp => "cpp",
        }
    }

    fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::Java => tree_sitter_java::LANGUAGE.into(),
            Language::C => tree_sitter_c::LANGUAGE.into(),
            Language::Cpp => tree_sitter_cpp::LANGUAGE.into(),
        }
    }

    fn syntax(self) -> &'static Syntax {
        match self {
            Language::Python => &PYTHON,
            Language::JavaScript | Language::TypeScript => &JAVASCRIPT,
            Language::Go => &GO,
            Language::Rust => &RUST,
            Language::Java => &JAVA,
            Language::C | Language::Cpp => &C_FAMILY,
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How one language's tree is read: node kinds by role.
#[derive(Debug)]
struct Syntax {
    /// Definitions whose `body` becomes a stub.
    functions: &'static [&'static str],
    /// Definitions whose `body` holds members, read one by one.
    containers: &'static [&'static str],
    /// Read through: the definition inside (decorators, `export`, templates).
    wrappers: &'static [&'static str],
    /// Scopes without a header of their own (`#ifdef` blocks).
    transparent: &'static [&'static str],
    /// Declarations holding a function as a value (`const f = () => {}`).
    bindings: &'static [&'static str],
    /// Type definitions: kept whole.
    types: &'static [&'static str],
    imports: &'static [&'static str],
    comments: &'static [&'static str],
    /// May stand between a doc comment and what it documents.
    attributes: &'static [&'static str],
}

static PYTHON: Syntax = Syntax {
    functions: &["function_definition"],
    containers: &["class_definition"],
    wrappers: &["decorated_definition"],
    transparent: &[],
    bindings: &[],
    types: &[],
    imports: &[
        "import_statement",
        "import_from_statement",
        "future_import_statement",
    ],
    comments: &["comment"],
    attributes: &[],
};

static JAVASCRIPT: Syntax = Syntax {
    functions: &[
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "function_expression",
        "generator_function",
        "arrow_function",
        "class_static_block",
    ],
    containers: &[
        "class_declaration",
        "abstract_class_declaration",
        "class",
        "internal_module",
        "module",
    ],
    wrappers: &["export_statement", "ambient_declaration"],
    transparent: &[],
    bindings: &[
        "lexical_declaration",
        "variable_declaration",
        "public_field_definition",
        "field_definition",
    ],
    types: &[
        "interface_declaration",
        "type_alias_declaration",
        "enum_declaration",
    ],
    imports: &["import_statement"],
    comments: &["comment"],
    attributes: &[],
};

static GO: Syntax = Syntax {
    functions: &["function_declaration", "method_declaration"],
    containers: &[],
    wrappers: &[],
    transparent: &[],
    bindings: &[],
    types: &["type_declaration"],
    imports: &["import_declaration", "package_clause"],
    comments: &["comment"],
    attributes: &[],
};

static RUST: Syntax = Syntax {
    functions: &["function_item"],
    containers: &["impl_item", "trait_item", "mod_item", "foreign_mod_item"],
    wrappers: &[],
    transparent: &[],
    bindings: &[],
    types: &["struct_item", "enum_item", "union_item", "type_item"],
    imports: &["use_declaration", "extern_crate_declaration"],
    comments: &["line_comment", "block_comment"],
    attributes: &["attribute_item"],
};

static JAVA: Syntax = Syntax {
    functions: &[
        "method_declaration",
        "constructor_declaration",
        "compact_constructor_declaration",
    ],
    containers: &[
        "class_declaration",
        "interface_declaration",
        "enum_declaration",
        "record_declaration",
        "annotation_type_declaration",
    ],
    wrappers: &[],
    transparent: &["enum_body_declarations"],
    bindings: &[],
    types: &[],
    imports: &["import_declaration", "package_declaration"],
    comments: &["line_comment", "block_comment"],
    attributes: &[],
};

static C_FAMILY: Syntax = Syntax {
    functions: &["function_definition"],
    containers: &[
        "class_specifier",
        "struct_specifier",
        "union_specifier",
        "namespace_definition",
        "linkage_specification",
    ],
    wrappers: &["template_declaration"],
    transparent: &[
        "preproc_if",
        "preproc_ifdef",
        "preproc_else",
        "preproc_elif",
        "preproc_elifdef",
        "access_specifier",
    ],
    bindings: &[],
    types: &["enum_specifier", "type_definition"],
    imports: &["preproc_include", "using_declaration"],
    comments: &["comment"],
    attributes: &[],
};

/// The languages `text` most likely is, best first (at most two).
pub fn guess(text: &str) -> Vec<Language> {
    ranked(text)
        .into_iter()
        .map(|(_, language)| language)
        .collect()
}

/// [`guess`] with each language's score.
fn ranked(text: &str) -> Vec<(i64, Language)> {
    let mut scores = [0i64; 8];
    let index = |language: Language| {
        Language::ALL
            .iter()
            .position(|&l| l == language)
            .unwrap_or_default()
    };
    let mut add = |language: Language, points: i64| scores[index(language)] += points;
    let mut typed = 0i64;
    for line in text.lines().filter(|l| !l.trim().is_empty()).take(600) {
        let t = line.trim();
        let first = line.len() == line.trim_start().len();
        // Python
        if t.starts_with("def ") && t.ends_with(':') {
            add(Language::Python, 4);
        }
        if t.starts_with("class ") && t.ends_with(':') {
            add(Language::Python, 3);
        }
        if t.starts_with("elif ") || t.starts_with("except") && t.ends_with(':') {
            add(Language::Python, 3);
        }
        if t.contains("self.") || t.starts_with("\"\"\"") || t.starts_with("@property") {
            add(Language::Python, 1);
        }
        if (t.starts_with("import ") || t.starts_with("from ") && t.contains(" import "))
            && !t.ends_with(';')
            && !t.contains(['\'', '"', '{'])
        {
            add(Language::Python, 2);
        }
        // Rust
        if (t.starts_with("fn ") || t.starts_with("pub fn ") || t.starts_with("pub(crate) fn "))
            || t.starts_with("impl") && t.ends_with('{')
        {
            add(Language::Rust, 4);
        }
        if t.starts_with("use ") && t.contains("::") && t.ends_with(';') || t.starts_with("#[") {
            add(Language::Rust, 3);
        }
        if t.contains("let mut ") || t.contains("&self") || t.contains("&mut ") {
            add(Language::Rust, 2);
        }
        // Go
        if first && (t.starts_with("func ") || t.starts_with("package ") && !t.ends_with(';')) {
            add(Language::Go, 4);
        }
        if t.contains(" := ") || t.contains("err != nil") {
            add(Language::Go, 2);
        }
        // Java
        if t.starts_with("package ") && t.ends_with(';')
            || t.starts_with("import ") && t.ends_with(';') && !t.contains(['\'', '"', ':'])
        {
            add(Language::Java, 3);
        }
        if t.starts_with("@Override") || t.contains("System.out.") || t.contains(" extends ") {
            add(Language::Java, 2);
        }
        if ["public ", "private ", "protected "]
            .iter()
            .any(|p| t.starts_with(p))
            && (t.ends_with('{') || t.ends_with(';'))
        {
            add(Language::Java, 2);
            add(Language::Cpp, -1);
        }
        // C and C++
        if t.starts_with("#include") {
            if t.contains(".h>") || t.contains(".h\"") {
                add(Language::C, 3);
                add(Language::Cpp, 2);
            } else {
                add(Language::Cpp, 4);
            }
        }
        if t.starts_with("#define") || t.contains("NULL") || t.contains("->") && t.ends_with(';') {
            add(Language::C, 2);
            add(Language::Cpp, 1);
        }
        if t.contains("std::")
            || t.starts_with("namespace ")
            || t.starts_with("template")
            || t.contains("nullptr")
            || t == "public:"
            || t == "private:"
        {
            add(Language::Cpp, 4);
        }
        // JavaScript and TypeScript
        if t.starts_with("function ")
            || t.contains("=> {")
            || t.contains("module.exports")
            || t.contains("require(")
            || t.contains("console.")
            || t.contains(" === ")
            || t.starts_with("export ")
            || t.starts_with("import ") && (t.contains(" from '") || t.contains(" from \""))
        {
            add(Language::JavaScript, 3);
            add(Language::TypeScript, 3);
        }
        if t.starts_with("const ") || t.starts_with("let ") || t.starts_with("var ") {
            add(Language::JavaScript, 1);
            add(Language::TypeScript, 1);
        }
        if t.starts_with("interface ")
            || t.starts_with("export interface ")
            || t.starts_with("type ") && t.contains(" = ")
            || t.starts_with("export type ")
            || [
                ": string",
                ": number",
                ": boolean",
                ": void",
                ": any",
                "readonly ",
            ]
            .iter()
            .any(|s| t.contains(s))
        {
            typed += 1;
        }
    }
    // Annotations tell TypeScript from JavaScript.
    if typed > 0 {
        scores[index(Language::TypeScript)] += 3 * typed;
    } else {
        scores[index(Language::TypeScript)] -= 1;
    }
    let mut ranked: Vec<(i64, Language)> = Language::ALL
        .iter()
        .map(|&language| (scores[index(language)], language))
        .filter(|(score, _)| *score > 0)
        .collect();
    // Stable: ties go to the earlier language.
    ranked.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    ranked.truncate(2);
    ranked
}

/// Parses `text` as `language`, giving up when the parse costs too much.
pub fn parse(text: &str, language: Language) -> Option<Tree> {
    let mut parser = Parser::new();
    parser.set_language(&language.grammar()).ok()?;
    let limit = 64 + text.len() / 1024 * PROGRESS_PER_KIB;
    let mut reports = 0usize;
    let mut progress = |_: &tree_sitter::ParseState| {
        reports += 1;
        if reports > limit {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    };
    let bytes = text.as_bytes();
    parser.parse_with_options(
        &mut |offset, _| bytes.get(offset..).unwrap_or_default(),
        None,
        Some(ParseOptions::new().progress_callback(&mut progress)),
    )
}

/// Bytes in error nodes, per mille of the text.
fn error_permille(tree: &Tree, len: usize) -> usize {
    let root = tree.root_node();
    if !root.has_error() {
        return 0;
    }
    let mut cursor = root.walk();
    let mut errors = 0usize;
    loop {
        let node = cursor.node();
        let descend = if node.is_error() || node.is_missing() {
            errors += (node.end_byte() - node.start_byte()).max(1);
            false
        } else {
            node.has_error()
        };
        if descend && cursor.goto_first_child() {
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return errors * 1000 / len.max(1);
            }
        }
    }
}

/// The language `text` parses as and its tree, or `None` when no grammar
/// reads it cleanly.
pub fn read(text: &str) -> Option<(Language, Tree)> {
    if text.len() > MAX_PARSE_BYTES {
        return None;
    }
    let mut best: Option<(usize, Language, Tree)> = None;
    let ranked = ranked(text);
    let top = ranked.first().map_or(0, |(score, _)| *score);
    for (score, language) in ranked {
        // A distant second is not worth a parse.
        if best.is_some() && score * 2 < top {
            break;
        }
        let Some(tree) = parse(text, language) else {
            continue;
        };
        let errors = error_permille(&tree, text.len());
        if best.as_ref().is_none_or(|(least, ..)| errors < *least) {
            best = Some((errors, language, tree));
        }
        // Real code has the odd error node (macros, newer syntax): a parse
        // this clean settles it.
        if errors <= CLEAN_ENOUGH_PERMILLE {
            break;
        }
    }
    best.filter(|(errors, ..)| *errors <= MAX_ERROR_PERMILLE)
        .map(|(_, language, tree)| (language, tree))
}

/// What each row of the source is, as the walk finds it.
struct Rows {
    priority: Vec<Priority>,
    /// Index into `names`: the symbol whose body the row is in.
    category: Vec<Option<usize>>,
    rank: Vec<u32>,
    names: Vec<String>,
    /// Where each name is in `names` (looked up only, never iterated).
    indexes: std::collections::HashMap<String, usize>,
}

impl Rows {
    fn new(count: usize) -> Rows {
        Rows {
            priority: vec![Priority::Low; count],
            category: vec![None; count],
            rank: vec![0; count],
            names: Vec::new(),
            indexes: std::collections::HashMap::new(),
        }
    }

    fn name(&mut self, name: String) -> usize {
        // Sources can define thousands of symbols: look names up, not along.
        if let Some(&index) = self.indexes.get(&name) {
            return index;
        }
        self.names.push(name.clone());
        self.indexes.insert(name, self.names.len() - 1);
        self.names.len() - 1
    }

    /// Raises rows `first..=last` to `priority` (never lowers one).
    fn mark(&mut self, first: usize, last: usize, priority: Priority, category: Option<usize>) {
        let last = last.min(self.priority.len().saturating_sub(1));
        for row in first..=last {
            if row >= self.priority.len() {
                break;
            }
            if priority > self.priority[row]
                || priority == self.priority[row] && self.category[row].is_none()
            {
                self.priority[row] = priority;
                if category.is_some() {
                    self.category[row] = category;
                }
            }
        }
    }
}

/// A function's parts, in rows.
struct Function {
    /// First row of the definition (decorators and attributes included).
    start: usize,
    /// Rows of the body that a stub replaces.
    interior: Option<(usize, usize)>,
}

/// One scope still to read: the parent of its members, and who owns it.
struct Scope<'t> {
    node: Node<'t>,
    owner: Option<String>,
    depth: u32,
}

/// Walks the tree, scope by scope (no recursion: nesting is unbounded).
struct Walk<'a> {
    source: &'a [u8],
    lines: &'a [&'a str],
    language: Language,
    syntax: &'static Syntax,
    rows: Rows,
    /// What a marker replacing rows from this one on is indented by.
    indents: Vec<&'a str>,
    functions: Vec<Function>,
}

impl<'a> Walk<'a> {
    /// Rows `first..=last` are cut to one marker indented as row `like` is.
    fn indent_as(&mut self, first: usize, last: usize, like: usize) {
        let indent = self.lines.get(like).map_or("", |line| leading_space(line));
        for row in first..=last.min(self.last_row()) {
            if let Some(slot) = self.indents.get_mut(row) {
                *slot = indent;
            }
        }
    }

    /// The rows of a docstring worth keeping: its first, and the next when
    /// the first holds only the opening quotes.
    fn summary_rows(&self, start: usize, end: usize) -> usize {
        let first = self.lines.get(start).map_or("", |line| line.trim());
        let bare = first.chars().all(|c| "\"'rRuUbBfF".contains(c));
        if bare && start < end {
            start + 1
        } else {
            start
        }
    }

    fn text(&self, node: Node<'_>) -> &'a str {
        std::str::from_utf8(&self.source[node.byte_range()]).unwrap_or_default()
    }

    fn is(&self, kinds: &[&str], node: Node<'_>) -> bool {
        kinds.contains(&node.kind())
    }

    fn last_row(&self) -> usize {
        self.lines.len().saturating_sub(1)
    }

    /// A symbol's display name: `name` (or the declarator's innermost name,
    /// in C), qualified by its owner's.
    fn symbol(&self, node: Node<'_>, owner: Option<&str>) -> String {
        let mut named = node.child_by_field_name("name");
        if named.is_none() {
            let mut declarator = node.child_by_field_name("declarator");
            while let Some(deeper) = declarator.and_then(|d| d.child_by_field_name("declarator")) {
                declarator = Some(deeper);
            }
            named = declarator.or_else(|| node.child_by_field_name("type"));
        }
        // A Go method is named by its receiver's type.
        let receiver = node
            .child_by_field_name("receiver")
            .and_then(|list| list.named_child(0))
            .and_then(|parameter| parameter.child_by_field_name("type"))
            .map(|kind| self.text(kind).trim_start_matches('*').to_owned());
        let owner = owner.or(receiver.as_deref());
        let name: String = named
            .map_or("<anonymous>", |n| self.text(n))
            .chars()
            .filter(|c| !c.is_whitespace())
            .take(60)
            .collect();
        let separator = match self.language {
            Language::Rust | Language::Cpp => "::",
            _ => ".",
        };
        match owner {
            Some(owner) if !name.contains(separator) => format!("{owner}{separator}{name}"),
            _ => name,
        }
    }

    /// Rows of `body` strictly inside its delimiters, if any.
    fn interior(&self, body: Node<'_>, header_row: usize) -> Option<(usize, usize)> {
        let start = body.start_position();
        let end = body.end_position();
        let start_line = self.lines.get(start.row).copied().unwrap_or_default();
        let before = &start_line[..crate::lines::floor_char_boundary(start_line, start.column)];
        let shares_row = start.row == header_row || !before.trim().is_empty();
        // A brace on a row of its own stays with the signature.
        let opens_alone = start_line[before.len()..].trim() == "{";
        let first = start.row + usize::from(shares_row || opens_alone);
        let last = if closes(body) || end.column == 0 {
            end.row.checked_sub(1)?
        } else {
            end.row
        };
        (first <= last.min(self.last_row())).then_some((first, last.min(self.last_row())))
    }

    /// The rows of a docstring opening `body`, if it has one.
    fn docstring(&self, body: Node<'_>) -> Option<(usize, usize)> {
        let mut cursor = body.walk();
        let first = body
            .named_children(&mut cursor)
            .find(|node| !self.is(self.syntax.comments, *node))?;
        is_docstring(first).then(|| (first.start_position().row, first.end_position().row))
    }

    /// A function: its signature kept, its body cut to a stub.
    fn function(&mut self, node: Node<'_>, start: usize, name: String, depth: u32) {
        let category = self.rows.name(format!("{name}()"));
        let Some(body) = node.child_by_field_name("body") else {
            self.statement(node, start);
            return;
        };
        let interior = self.interior(body, node.start_position().row);
        let end = node.end_position().row.min(self.last_row());
        let header_end = interior.map_or(end, |(first, _)| first.saturating_sub(1).max(start));
        let header_end = header_end.min(self.last_row());
        self.rows.mark(start, header_end, Priority::Important, None);
        for row in start..=header_end.min(self.last_row()) {
            if let Some(rank) = self.rows.rank.get_mut(row) {
                *rank = u32::MAX - depth;
            }
        }
        if let Some((first, last)) = interior {
            self.rows.mark(first, last, Priority::Low, Some(category));
            let opening = (first..=last)
                .find(|&row| {
                    self.lines
                        .get(row)
                        .is_some_and(|line| !line.trim().is_empty())
                })
                .unwrap_or(first);
            self.indent_as(first, last, opening);
            if let Some((doc, doc_end)) = self.docstring(body) {
                let kept = self.summary_rows(doc, doc_end);
                self.rows.mark(doc, kept, Priority::Important, None);
            }
            // The closing row (`}`) stays.
            if last < end {
                self.rows.mark(last + 1, end, Priority::Context, None);
            }
        }
        self.functions.push(Function { start, interior });
    }

    /// A statement that is not a definition: short ones kept, long ones
    /// keep their first row.
    fn statement(&mut self, node: Node<'_>, start: usize) {
        let end = node.end_position().row.min(self.last_row());
        if end.saturating_sub(start) < SHORT_STATEMENT_ROWS {
            self.rows.mark(start, end, Priority::Context, None);
        } else {
            let category = self.rows.name("statements".to_owned());
            self.rows.mark(start, start, Priority::Context, None);
            self.rows
                .mark(start + 1, end, Priority::Low, Some(category));
            self.indent_as(start + 1, end, start);
        }
    }

    /// The node and value of a binding whose value is a function
    /// (`const f = () => {...}`, `handler = function () {...}`).
    fn bound_function<'t>(&self, node: Node<'t>) -> Option<(Node<'t>, Node<'t>)> {
        let mut cursor = node.walk();
        std::iter::once(node)
            .chain(node.named_children(&mut cursor))
            .find_map(|binding| {
                let value = binding.child_by_field_name("value")?;
                (self.is(self.syntax.functions, value)
                    && value.child_by_field_name("body").is_some())
                .then_some((binding, value))
            })
    }

    /// The definition a wrapper (decorators, `export`, `template<...>`) holds.
    fn unwrap<'t>(&self, mut node: Node<'t>) -> Node<'t> {
        while self.is(self.syntax.wrappers, node) {
            let inner = node
                .child_by_field_name("definition")
                .or_else(|| node.child_by_field_name("declaration"))
                .or_else(|| node.named_child(node.named_child_count().saturating_sub(1) as u32));
            match inner {
                Some(inner) if inner != node => node = inner,
                _ => break,
            }
        }
        node
    }

    /// Whether `node` defines something (a doc comment before it is kept).
    fn defines(&self, node: Node<'_>) -> bool {
        let node = self.unwrap(node);
        let syntax = self.syntax;
        self.is(syntax.functions, node)
            || self.is(syntax.containers, node)
            || self.is(syntax.types, node)
            || self.is(syntax.bindings, node)
    }

    /// Reads one scope's members; returns the scopes nested in it.
    fn scope<'t>(&mut self, scope: &Scope<'t>) -> Vec<Scope<'t>> {
        let syntax = self.syntax;
        let mut nested = Vec::new();
        let mut cursor = scope.node.walk();
        let members: Vec<Node<'t>> = scope.node.named_children(&mut cursor).collect();
        let first_code = members
            .iter()
            .position(|node| !self.is(syntax.comments, *node));
        let owner = scope.owner.as_deref();
        for (index, &member) in members.iter().enumerate() {
            let start = member.start_position().row;
            let end = member.end_position().row.min(self.last_row());
            let node = self.unwrap(member);
            if self.is(syntax.functions, node) {
                let name = self.symbol(node, owner);
                self.function(node, start, name, scope.depth);
            } else if self.is(syntax.containers, node) {
                match node.child_by_field_name("body") {
                    Some(body) => {
                        let header_end = body.start_position().row.max(start);
                        self.rows.mark(start, header_end, Priority::Important, None);
                        if closes(body) {
                            self.rows
                                .mark(body.end_position().row, end, Priority::Context, None);
                        }
                        nested.push(Scope {
                            node: body,
                            owner: Some(self.symbol(node, owner)),
                            depth: scope.depth + 1,
                        });
                    }
                    None => self.statement(node, start),
                }
            } else if self.is(syntax.transparent, node) {
                self.rows.mark(start, start, Priority::Context, None);
                nested.push(Scope {
                    node,
                    owner: scope.owner.clone(),
                    depth: scope.depth,
                });
            } else if self.is(syntax.types, node) {
                self.rows.mark(start, end, Priority::Context, None);
            } else if self.is(syntax.imports, node) {
                let category = self.rows.name("imports".to_owned());
                self.rows.mark(start, end, Priority::Low, Some(category));
            } else if self.is(syntax.comments, node) {
                let category = self.rows.name("comments".to_owned());
                self.rows.mark(start, end, Priority::Low, Some(category));
                // The first row of a comment block right before a definition
                // is its doc comment's summary.
                let opens = index == 0
                    || !self.is(syntax.comments, members[index - 1])
                    || members[index - 1].end_position().row + 1 < start;
                if opens {
                    let mut last = index;
                    while members.get(last + 1).is_some_and(|next| {
                        self.is(syntax.comments, *next)
                            && next.start_position().row <= members[last].end_position().row + 1
                    }) {
                        last += 1;
                    }
                    // Attributes (`#[inline]`) may stand between.
                    let mut next = last + 1;
                    while members.get(next).is_some_and(|node| {
                        self.is(syntax.attributes, *node)
                            && node.start_position().row <= members[next - 1].end_position().row + 1
                    }) {
                        next += 1;
                    }
                    let documents = members.get(next).is_some_and(|node| {
                        node.start_position().row <= members[next - 1].end_position().row + 1
                            && self.defines(*node)
                    });
                    if documents {
                        self.rows.mark(start, start, Priority::Context, None);
                    }
                }
            } else if Some(index) == first_code && is_docstring(node) {
                let category = self.rows.name("docstrings".to_owned());
                let kept = self.summary_rows(start, end);
                self.rows.mark(start, kept, Priority::Important, None);
                self.rows.mark(kept + 1, end, Priority::Low, Some(category));
                self.indent_as(kept + 1, end, start);
            } else if let Some((binding, value)) = self
                .is(syntax.bindings, node)
                .then(|| self.bound_function(node))
                .flatten()
            {
                let name = self.symbol(binding, owner);
                self.function(value, start, name, scope.depth);
            } else {
                self.statement(node, start);
            }
        }
        nested
    }
}

/// Whether `body` ends with a closing brace (whose row stays in the view).
fn closes(body: Node<'_>) -> bool {
    body.child(body.child_count().saturating_sub(1))
        .is_some_and(|last| !last.is_named() && last.kind() == "}")
}

/// A string standing alone as a statement: Python's docstring.
fn is_docstring(node: Node<'_>) -> bool {
    node.kind() == "expression_statement"
        && node.named_child_count() == 1
        && node
            .named_child(0)
            .is_some_and(|string| string.kind() == "string")
}

/// Compresses source code `text`, parsed as `tree` (see [`read`]).
pub fn compress_tree(
    text: &str,
    language: Language,
    tree: &Tree,
    matcher: &QueryMatcher,
    reference: &CcrRef,
    max_tokens: Option<u64>,
) -> Selected {
    let lines: Vec<&str> = text.lines().collect();
    let mut walk = Walk {
        source: text.as_bytes(),
        lines: &lines,
        language,
        syntax: language.syntax(),
        rows: Rows::new(lines.len()),
        indents: lines.iter().map(|line| leading_space(line)).collect(),
        functions: Vec::new(),
    };
    let mut scopes = vec![Scope {
        node: tree.root_node(),
        owner: None,
        depth: 0,
    }];
    while let Some(scope) = scopes.pop() {
        let nested = walk.scope(&scope);
        scopes.extend(nested);
    }
    let matches: Vec<bool> = lines.iter().map(|line| matcher.matches(line)).collect();
    // A symbol the query touches keeps its whole body.
    for function in &walk.functions {
        if let Some((_, last)) = function.interior
            && matches
                .get(function.start..=last)
                .is_some_and(|rows| rows.contains(&true))
        {
            walk.rows
                .mark(function.start, last, Priority::Important, None);
        }
    }
    let Walk { rows, indents, .. } = walk;
    // Whether the next non-blank row is a signature, per row.
    let mut before_signature = vec![false; lines.len()];
    let mut next_is_signature = false;
    for row in (0..lines.len()).rev() {
        before_signature[row] = next_is_signature;
        if !lines[row].trim().is_empty() {
            next_is_signature = rows.priority[row] == Priority::Important;
        }
    }
    let selected: Vec<Line<'_>> = lines
        .iter()
        .enumerate()
        .map(|(row, text)| {
            let uncovered = rows.priority[row] == Priority::Low && rows.category[row].is_none();
            let blank = text.trim().is_empty();
            let priority = if matches[row] {
                Priority::Query
            } else if uncovered && (!blank || before_signature[row]) {
                // Closing braces, `#endif`s: what no member claimed; and the
                // blank lines that set definitions apart.
                Priority::Context
            } else {
                rows.priority[row]
            };
            Line {
                text,
                priority,
                category: rows.category[row].map(|name| rows.names[name].clone()),
                rank: rows.rank[row],
                origin: Some((row + 1, row + 1)),
            }
        })
        .collect();
    select_indented(&selected, &indents, max_tokens, matcher, reference, "lines")
}

fn leading_space(line: &str) -> &str {
    &line[..line.len() - line.trim_start().len()]
}
