//! Normalising a statement's text and digesting it, for `record --statements`.
//!
//! [`normalize`] turns a statement into the shape of text performance_schema calls DIGEST_TEXT:
//! every literal value replaced by `?`, comments dropped, spacing and keyword case made uniform,
//! so that statements which differ only in their values (or their spacing) read the same. The
//! normalised text never holds a literal value, so it can be stored in a trace where the
//! statement itself could not. [`digest`] hashes the normalised text to a stable 64-bit number.
//!
//! The rules, in short:
//! - string literals (`'..'`, `".."`, with backslash and doubled-quote escapes, with or without
//!   a `N` or `_charset` introducer), numbers (integers, decimals, exponents, `0x..`, `0b..`,
//!   `X'..'`, `B'..'`), `TRUE`, `FALSE` and `?` placeholders become `?`; a `-` or `+` sign before
//!   a value where an operand is expected (after an operator, `(`, `,`, a keyword or nothing) goes
//!   with it;
//! - a parenthesised list of only values (and `NULL`s), such as `IN (1, 2, 3)` or a row of
//!   `VALUES`, becomes `(...)`, and repeated rows `(...), (...)` become one `(...)`;
//! - comments are dropped (`/* .. */`, `-- ` and `#` to the end of the line); optimizer hints
//!   `/*+ .. */` are kept, their text normalised the same way; the text of executable comments
//!   (`/*! .. */`, `/*M! .. */`) is kept as ordinary text, their version number dropped;
//! - tokens are separated by single spaces, except none before `,` `)` `;` `.` or after `(` `.`
//!   `@`, and none between a function's name and its `(`; common SQL keywords are upper-cased,
//!   identifiers keep their case, backquoted identifiers are kept as written; trailing `;` go.
//!
//! Statements arrive cut at a fixed length (the recorder copies at most 1024 bytes of one), and
//! as raw bytes in whatever character set the client used: an unterminated string, comment or
//! list just ends (a sign at the very end is taken for a value's), bytes that are not UTF-8 are replaced, and nothing panics. A cut inside a
//! multi-row `VALUES` still gives the digest of the whole statement: the open row is closed as
//! `(...)`, a word cut short at its end (`NU`, `0x`) taken for a value.
//!
//! Normalising is idempotent: the normal form of a normal form is itself.

/// Keywords written in upper case. Mostly reserved words: a word that is often a column name
/// (`value`, `status`, `name`, `date`...) is left out, as it could be one.
#[rustfmt::skip]
const KEYWORDS: &[&str] = &[
    "ADD", "ALL", "ALTER", "ANALYZE", "AND", "AS", "ASC", "BEFORE", "BEGIN", "BETWEEN", "BIGINT", "BINARY",
    "BLOB", "BOTH", "BY", "CALL", "CASCADE", "CASE", "CHANGE", "CHAR", "CHARACTER", "CHECK", "COLLATE",
    "COLUMN", "COMMIT", "CONSTRAINT", "CREATE", "CROSS", "DATABASE", "DATABASES", "DEALLOCATE", "DECIMAL",
    "DECLARE", "DEFAULT", "DELAYED", "DELETE", "DESC", "DESCRIBE", "DISTINCT", "DISTINCTROW", "DIV", "DO",
    "DOUBLE", "DROP", "DUAL", "DUPLICATE", "ELSE", "ELSEIF", "END", "ESCAPE", "EXECUTE", "EXISTS", "EXPLAIN",
    "FLOAT", "FLUSH", "FOR", "FORCE", "FOREIGN", "FROM", "FULL", "FULLTEXT", "GLOBAL", "GRANT", "GROUP",
    "HANDLER", "HAVING", "HIGH_PRIORITY", "IGNORE", "IN", "INDEX", "INFILE", "INNER", "INSERT", "INT",
    "INTEGER", "INTERVAL", "INTO", "IS", "ISOLATION", "JOIN", "KEY", "KEYS", "KILL", "LATERAL", "LEADING",
    "LEFT", "LIKE", "LIMIT", "LOAD", "LOCK", "LOCKED", "LONGTEXT", "LOW_PRIORITY", "MATCH", "MEDIUMINT",
    "MEDIUMTEXT", "NAMES", "NATURAL", "NOT", "NOWAIT", "NULL", "NUMERIC", "OFFSET", "ON", "ONLY", "OPTIMIZE",
    "OR", "ORDER", "OUTER", "OUTFILE", "OVER", "PARTITION", "PREPARE", "PRIMARY", "PROCEDURE", "READ",
    "REAL", "RECURSIVE", "REFERENCES", "REGEXP", "RELEASE", "RENAME", "REPLACE", "RETURN", "RETURNING",
    "REVOKE", "RIGHT", "RLIKE", "ROLLBACK", "SAVEPOINT", "SCHEMA", "SELECT", "SET", "SHARE", "SHOW",
    "SIGNED", "SKIP", "SMALLINT", "SQL_BIG_RESULT", "SQL_BUFFER_RESULT", "SQL_CALC_FOUND_ROWS",
    "SQL_NO_CACHE", "SQL_SMALL_RESULT", "START", "STRAIGHT_JOIN", "TABLE", "TABLES", "TEMPORARY", "THEN",
    "TINYINT", "TINYTEXT", "TO", "TRAILING", "TRANSACTION", "TRIGGER", "TRUNCATE", "UNION", "UNIQUE",
    "UNLOCK", "UNSIGNED", "UPDATE", "USE", "USING", "VALUES", "VARBINARY", "VARCHAR", "VIEW", "WHEN",
    "WHERE", "WHILE", "WINDOW", "WITH", "WORK", "WRITE", "XA", "XOR",
];

/// Function names written in upper case, with no space before their `(`.
#[rustfmt::skip]
const FUNCTIONS: &[&str] = &[
    "ABS", "AVG", "CAST", "CEIL", "CEILING", "CHAR_LENGTH", "COALESCE", "CONCAT", "CONCAT_WS", "CONVERT",
    "COUNT", "CURDATE", "CURRENT_DATE", "CURRENT_TIMESTAMP", "CURTIME", "DATEDIFF", "DATE_ADD",
    "DATE_FORMAT", "DATE_SUB", "FLOOR", "FOUND_ROWS", "FROM_UNIXTIME", "GREATEST", "GROUP_CONCAT", "HEX",
    "IF", "IFNULL", "ISNULL", "JSON_ARRAY", "JSON_EXTRACT", "JSON_OBJECT", "LAST_INSERT_ID", "LEAST",
    "LENGTH", "LOWER", "LPAD", "LTRIM", "MAX", "MD5", "MID", "MIN", "MOD", "NOW", "NULLIF", "RAND", "ROUND",
    "ROW", "ROW_COUNT", "ROW_NUMBER", "RPAD", "RTRIM", "SHA1", "SHA2", "SLEEP", "SUBSTR", "SUBSTRING",
    "SUBSTRING_INDEX", "SUM", "TRIM", "UNIX_TIMESTAMP", "UPPER", "UUID",
];

/// Keywords after which a name and its `(` are a table and its column list, not a call.
#[rustfmt::skip]
const TABLE_INTRODUCERS: &[&str] = &[
    "EXISTS", "IGNORE", "INDEX", "INSERT", "INTO", "KEY", "REPLACE", "TABLE", "VIEW",
];

/// Keywords after which an operand is expected, so that a `-` after them is a sign.
#[rustfmt::skip]
const OPERAND_BEFORE: &[&str] = &[
    "ALL", "AND", "BETWEEN", "BY", "CASE", "DEFAULT", "DISTINCT", "DIV", "ELSE", "ESCAPE", "HAVING", "IN",
    "INTERVAL", "IS", "LIKE", "LIMIT", "NOT", "OFFSET", "ON", "OR", "REGEXP", "RETURN", "RLIKE", "SELECT",
    "SET", "THEN", "VALUES", "WHEN", "WHERE", "XOR",
];

/// Operators of three and two characters, longest first.
const LONG_OPERATORS: &[&str] = &["<=>", "->>", "<=", ">=", "<>", "!=", ":=", "||", "&&", "<<", ">>", "->"];

/// Whether `word` is in `list` (sorted).
fn in_list(list: &[&str], word: &str) -> bool {
    list.binary_search(&word).is_ok()
}

/// What a word is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WordKind {
    Keyword,
    Function,
    Ident,
}

/// A token of the normalised text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A word, keywords and functions already upper-cased.
    Word(String, WordKind),
    /// A backquoted identifier, as written.
    Quoted(String),
    /// A literal value or placeholder: `?`.
    Value,
    /// A list of only values: `(...)`. `glued` when it follows a name with no space.
    List {
        glued: bool,
    },
    /// `(`, `glued` as for [`Tok::List`].
    Open {
        glued: bool,
    },
    Close,
    Comma,
    Dot,
    Semicolon,
    /// An operator or other punctuation.
    Op(String),
    /// An optimizer hint's normalised text.
    Hint(String),
}

impl Tok {
    fn is_keyword(&self, list: &[&str]) -> bool {
        matches!(self, Tok::Word(w, WordKind::Keyword) if in_list(list, w))
    }

    /// An item of a list that collapses to `(...)`.
    fn is_list_item(&self) -> bool {
        matches!(self, Tok::Value | Tok::List { .. }) || self.is_keyword(&["NULL"])
    }
}

/// Statement text with every literal replaced by `?` and its spacing, keyword case and
/// comments made uniform (see the module documentation for the rules).
pub fn normalize(sql: &[u8]) -> String {
    normalize_text(sql, false)
}

/// [`normalize`], of a statement or (`in_hint`) of an optimizer hint's text.
fn normalize_text(sql: &[u8], in_hint: bool) -> String {
    let mut n = Normalizer { in_hint, ..Normalizer::default() };
    n.feed(sql);
    n.finish();
    render(&n.out)
}

/// The FNV-1a 64-bit hash of a normalised statement's UTF-8 bytes.
///
/// FNV-1a is defined by its two constants and byte-wise steps, not by a library, so a digest is
/// the same on every build, platform and Rust version, and can be stored in traces and compared
/// across them (unlike `std`'s `DefaultHasher`, which promises no such thing).
pub fn digest(normalized: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    normalized.bytes().fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

/// Whether a normalised statement is an SQL-level `PREPARE name FROM ...`, which, like
/// `COM_STMT_PREPARE`, creates a prepared statement on the server.
pub fn is_prepare(normalized: &str) -> bool {
    let mut rest = normalized.trim_start();
    let Some(after) = strip_word(rest, "PREPARE") else { return false };
    rest = after.trim_start();
    // The statement's name: a backquoted identifier (`` doubles a backquote) or a word.
    let after_name = if let Some(quoted) = rest.strip_prefix('`') {
        let mut chars = quoted.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '`' {
                if chars.peek().is_some_and(|&(_, c)| c == '`') {
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            }
        }
        match end {
            Some(end) => &quoted[end..],
            None => return false,
        }
    } else {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if end == 0 {
            return false;
        }
        &rest[end..]
    };
    strip_word(after_name.trim_start(), "FROM").is_some()
}

/// `s` after its first word when that word is `word` (in any case).
fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    let rest = &s[word.len()..];
    (head.eq_ignore_ascii_case(word) && rest.chars().next().is_none_or(char::is_whitespace)).then_some(rest)
}

/// A byte that may be part of an unquoted identifier or number.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The end of the run of bytes from `i` on that satisfy `f`.
fn run_end(s: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < s.len() && f(s[i]) {
        i += 1;
    }
    i
}

/// The end of a quoted string or identifier opening at `start` with `quote`, and whether it is
/// closed: after its closing quote, or the end of the input when it has none. A doubled quote
/// stands for one; backslash escapes the next byte unless the quote is a backquote.
fn quoted_end(s: &[u8], start: usize, quote: u8) -> (usize, bool) {
    let mut i = start + 1;
    while i < s.len() {
        let b = s[i];
        if b == b'\\' && quote != b'`' {
            i += 2;
        } else if b == quote {
            if s.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return (i + 1, true);
            }
        } else {
            i += 1;
        }
    }
    (s.len(), false)
}

/// The end of a number starting at `start` (a digit, or a `.` before a digit), or `None` when the
/// bytes from `start` are an identifier that begins with digits (`2024_sales`, `0xg`).
fn number_end(s: &[u8], start: usize) -> Option<usize> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    if at(start) == b'0' {
        let digits_end = match at(start + 1) {
            b'x' | b'X' => run_end(s, start + 2, |b| b.is_ascii_hexdigit()),
            b'b' | b'B' => run_end(s, start + 2, |b| b == b'0' || b == b'1'),
            _ => start + 2,
        };
        if digits_end > start + 2 && !is_word_byte(at(digits_end)) {
            return Some(digits_end);
        }
    }
    let mut end = run_end(s, start, |b| b.is_ascii_digit());
    let mut plain = true;
    if at(end) == b'.' {
        plain = false;
        end = run_end(s, end + 1, |b| b.is_ascii_digit());
    }
    if matches!(at(end), b'e' | b'E') {
        let mut exp = end + 1;
        if matches!(at(exp), b'+' | b'-') {
            exp += 1;
        }
        // An exponent, or (after a decimal point) the start of one cut by the end of the text.
        if at(exp).is_ascii_digit() || (!plain && exp >= s.len()) {
            plain = false;
            end = run_end(s, exp, |b| b.is_ascii_digit());
        }
    }
    if plain && is_word_byte(at(end)) {
        None
    } else {
        Some(end)
    }
}

/// Builds the token list of a statement.
#[derive(Debug, Default)]
struct Normalizer {
    out: Vec<Tok>,
    /// Indices in `out` of the `(` not closed yet.
    open: Vec<usize>,
    /// Reading an optimizer hint's text (where comments are only dropped, so that no input nests
    /// hints in hints).
    in_hint: bool,
    /// Inside an executable comment, whose `*/` is to be skipped.
    in_executable: bool,
}

impl Normalizer {
    fn feed(&mut self, s: &[u8]) {
        let mut i = 0;
        while i < s.len() {
            let b = s[i];
            let next = s.get(i + 1).copied();
            i = match b {
                _ if b.is_ascii_whitespace() || b.is_ascii_control() => i + 1,
                b'#' => run_end(s, i, |b| b != b'\n'),
                b'-' if next == Some(b'-')
                    && s.get(i + 2).is_none_or(|&b| b.is_ascii_whitespace() || b.is_ascii_control()) =>
                {
                    run_end(s, i, |b| b != b'\n')
                }
                b'/' if next == Some(b'*') => self.comment(s, i),
                b'*' if next == Some(b'/') && self.in_executable => {
                    self.in_executable = false;
                    i + 2
                }
                b'\'' | b'"' => {
                    self.push_value();
                    quoted_end(s, i, b).0
                }
                b'`' => {
                    let (end, closed) = quoted_end(s, i, b'`');
                    let mut name = String::from_utf8_lossy(&s[i..end]).into_owned();
                    if !closed {
                        // Cut: closed here, so that the normalised text reads the same again.
                        name.push('`');
                    }
                    self.out.push(Tok::Quoted(name));
                    end
                }
                b'?' => {
                    self.push_value();
                    i + 1
                }
                b'0'..=b'9' => match number_end(s, i) {
                    Some(end) => {
                        self.push_value();
                        end
                    }
                    None => self.word(s, i),
                },
                // `.5` is a number, but in `t.5x` the `.` qualifies a name.
                b'.' if next.is_some_and(|b| b.is_ascii_digit()) && !self.qualifies(s, i) => {
                    self.push_value();
                    number_end(s, i).unwrap_or(i + 1)
                }
                _ if is_word_byte(b) => self.word(s, i),
                b'(' => {
                    let glued = self.glues_paren();
                    let start = self.out.len();
                    self.out.push(Tok::Open { glued });
                    if s[i..].starts_with(b"(...)") {
                        // A normalised text read again.
                        self.collapse(start);
                        i + 5
                    } else {
                        self.open.push(start);
                        i + 1
                    }
                }
                b')' => {
                    self.close();
                    i + 1
                }
                b',' => {
                    self.out.push(Tok::Comma);
                    i + 1
                }
                b'.' => {
                    self.out.push(Tok::Dot);
                    i + 1
                }
                b';' => {
                    self.out.push(Tok::Semicolon);
                    i + 1
                }
                _ => {
                    let op = LONG_OPERATORS.iter().find(|op| s[i..].starts_with(op.as_bytes()));
                    let len = op.map_or(1, |op| op.len());
                    self.out.push(Tok::Op(String::from_utf8_lossy(&s[i..i + len]).into_owned()));
                    i + len
                }
            };
        }
    }

    /// Whether the `.` at `i` qualifies the name just before it (`t.5x`, `` `t`.5x ``).
    fn qualifies(&self, s: &[u8], i: usize) -> bool {
        let adjacent = i > 0 && (is_word_byte(s[i - 1]) || s[i - 1] == b'`');
        adjacent && matches!(self.out.last(), Some(Tok::Word(..) | Tok::Quoted(_)))
    }

    /// A `/*` comment at `i`: dropped, kept as a hint, or (an executable comment) its text read
    /// as statement text. Returns where the text goes on.
    fn comment(&mut self, s: &[u8], i: usize) -> usize {
        let body = &s[i + 2..];
        if !self.in_hint {
            if let Some(text) = body.strip_prefix(b"!").or_else(|| body.strip_prefix(b"M!")) {
                // Its text runs on servers at least as new as its version; its `*/` is skipped.
                self.in_executable = true;
                return s.len() - text.len() + run_end(text, 0, |b| b.is_ascii_digit());
            }
        }
        let body_len = body.windows(2).position(|w| w == b"*/").unwrap_or(body.len());
        if let (false, Some(hint)) = (self.in_hint, body[..body_len].strip_prefix(b"+")) {
            self.out.push(Tok::Hint(normalize_text(hint, true)));
        }
        (i + 2 + body_len + 2).min(s.len())
    }

    /// A word starting at `i` (an identifier, keyword, or a literal's prefix). Returns its end.
    fn word(&mut self, s: &[u8], i: usize) -> usize {
        let end = run_end(s, i, is_word_byte);
        let word = &s[i..end];
        let quote = s.get(end).copied().filter(|&q| q == b'\'' || q == b'"');
        if let Some(q) = quote {
            // X'0f', B'01', N'text', _utf8mb4'text': one literal.
            let prefix = matches!(word, [b'x' | b'X' | b'b' | b'B' | b'n' | b'N']);
            if prefix || word.starts_with(b"_") {
                self.push_value();
                return quoted_end(s, end, q).0;
            }
        }
        let upper = String::from_utf8_lossy(word).to_ascii_uppercase();
        let after_dot = matches!(self.out.last(), Some(Tok::Dot));
        if !after_dot && (upper == "TRUE" || upper == "FALSE") {
            self.push_value();
        } else if !after_dot && in_list(KEYWORDS, &upper) {
            self.out.push(Tok::Word(upper, WordKind::Keyword));
        } else if !after_dot && in_list(FUNCTIONS, &upper) {
            self.out.push(Tok::Word(upper, WordKind::Function));
        } else {
            self.out.push(Tok::Word(String::from_utf8_lossy(word).into_owned(), WordKind::Ident));
        }
        end
    }

    /// Adds a literal value, taking in a sign before it and merging adjacent values (`'a' 'b'`
    /// is one string).
    fn push_value(&mut self) {
        // `- -5` is one value too.
        while self.ends_with_sign() {
            self.out.pop();
        }
        if self.out.last() != Some(&Tok::Value) {
            self.out.push(Tok::Value);
        }
    }

    /// Whether the last token is a `-` or `+` where an operand is expected: the sign of a value.
    fn ends_with_sign(&self) -> bool {
        let (before, last) = match self.out.as_slice() {
            [.., before, last] => (Some(before), last),
            [last] => (None, last),
            [] => return false,
        };
        let operand_expected = match before {
            None | Some(Tok::Open { .. } | Tok::Comma | Tok::Op(_) | Tok::Semicolon | Tok::Hint(_)) => true,
            Some(word @ Tok::Word(..)) => word.is_keyword(OPERAND_BEFORE),
            Some(_) => false,
        };
        operand_expected && matches!(last, Tok::Op(op) if op == "-" || op == "+")
    }

    /// Whether a `(` here follows a function's name with no space.
    fn glues_paren(&self) -> bool {
        match self.out.last() {
            Some(Tok::Word(_, WordKind::Function)) => true,
            Some(Tok::Word(_, WordKind::Ident) | Tok::Quoted(_)) => {
                // Unless the name (perhaps qualified) is a table after INSERT INTO and the like.
                let before_name = self
                    .out
                    .iter()
                    .rev()
                    .find(|t| !matches!(t, Tok::Word(_, WordKind::Ident) | Tok::Quoted(_) | Tok::Dot));
                !before_name.is_some_and(|t| t.is_keyword(TABLE_INTRODUCERS))
            }
            _ => false,
        }
    }

    /// A `)`: the list it closes becomes `(...)` when it holds only values.
    fn close(&mut self) {
        match self.open.pop() {
            Some(start) if is_value_list(&self.out[start + 1..], false) => self.collapse(start),
            _ => self.out.push(Tok::Close),
        }
    }

    /// Replaces the list opening at `start` by `(...)`, merging it into a row before it.
    fn collapse(&mut self, start: usize) {
        let glued = matches!(self.out[start], Tok::Open { glued: true });
        self.out.truncate(start);
        if !glued && matches!(self.out.as_slice(), [.., Tok::List { glued: false }, Tok::Comma]) {
            // `(...), (...)`: rows of VALUES, or of IN ((1, 2), (3, 4)).
            self.out.pop();
        } else {
            self.out.push(Tok::List { glued });
        }
    }

    /// The end of the text: lists left open by a cut are closed when they hold only values, a
    /// dangling `,` after a row goes, and so do trailing `;`.
    fn finish(&mut self) {
        while self.out.last() == Some(&Tok::Semicolon) {
            self.out.pop();
        }
        if self.ends_with_sign() {
            // Cut between a sign and its number.
            self.push_value();
        }
        while let Some(&start) = self.open.last() {
            let items = &self.out[start + 1..];
            // A word as the list's last item may be a value cut short: `0x`, `X`, `NU`.
            let cut_word = matches!(items, [Tok::Word(..)] | [.., Tok::Comma, Tok::Word(..)]);
            let items = if cut_word { &items[..items.len() - 1] } else { items };
            if !is_value_list(items, true) {
                break;
            }
            self.open.pop();
            self.collapse(start);
        }
        if matches!(self.out.as_slice(), [.., Tok::List { glued: false }, Tok::Comma]) {
            self.out.pop();
        }
    }
}

/// Whether `items` are values separated by commas: `?, ?, (...)`. When `cut` (the text ended
/// inside the list), an empty list and a trailing comma count too.
fn is_value_list(items: &[Tok], cut: bool) -> bool {
    if items.is_empty() {
        return cut;
    }
    let items = if cut { items.strip_suffix(&[Tok::Comma]).unwrap_or(items) } else { items };
    !items.is_empty()
        && items.iter().enumerate().all(|(i, t)| if i % 2 == 0 { t.is_list_item() } else { *t == Tok::Comma })
        && items.len() % 2 == 1
}

/// Whether a space goes between the tokens at `i - 1` and `i`.
fn space_before(toks: &[Tok], i: usize) -> bool {
    let (prev, next) = (&toks[i - 1], &toks[i]);
    let no_space_before = matches!(next, Tok::Comma | Tok::Close | Tok::Semicolon | Tok::Dot)
        || matches!(next, Tok::Open { glued: true } | Tok::List { glued: true });
    // A `.` is glued to what follows only in a qualified name (`db.t`), so that `, .5` and
    // `, . 5` stay apart when read again.
    let qualifying_dot = *prev == Tok::Dot && i >= 2 && matches!(toks[i - 2], Tok::Word(..) | Tok::Quoted(_));
    let no_space_after =
        matches!(prev, Tok::Open { .. }) || qualifying_dot || matches!(prev, Tok::Op(op) if op == "@");
    !(no_space_before || no_space_after)
}

/// The text of a token list.
fn render(toks: &[Tok]) -> String {
    let mut text = String::new();
    for (i, tok) in toks.iter().enumerate() {
        if i > 0 && space_before(toks, i) {
            text.push(' ');
        }
        match tok {
            Tok::Word(w, _) | Tok::Quoted(w) | Tok::Op(w) => text.push_str(w),
            Tok::Value => text.push('?'),
            Tok::List { .. } => text.push_str("(...)"),
            Tok::Open { .. } => text.push('('),
            Tok::Close => text.push(')'),
            Tok::Comma => text.push(','),
            Tok::Dot => text.push('.'),
            Tok::Semicolon => text.push(';'),
            Tok::Hint(h) if h.is_empty() => text.push_str("/*+ */"),
            Tok::Hint(h) => {
                text.push_str("/*+ ");
                text.push_str(h);
                text.push_str(" */");
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(sql: &str) -> String {
        normalize(sql.as_bytes())
    }

    /// Asserts that each input normalises to its expected text.
    fn check(cases: &[(&str, &str)]) {
        for (sql, expected) in cases {
            assert_eq!(norm(sql), *expected, "normalising {sql:?}");
        }
    }

    /// Asserts that all forms normalise to the same text, and so have the same digest.
    fn same(forms: &[&str]) {
        let first = norm(forms[0]);
        for form in &forms[1..] {
            assert_eq!(norm(form), first, "{form:?} against {:?}", forms[0]);
            assert_eq!(digest(&norm(form)), digest(&first));
        }
    }

    #[test]
    fn sysbench_statements() {
        check(&[
            ("SELECT c FROM sbtest1 WHERE id=5012", "SELECT c FROM sbtest1 WHERE id = ?"),
            (
                "SELECT c FROM sbtest3 WHERE id BETWEEN 10 AND 109 ORDER BY c",
                "SELECT c FROM sbtest3 WHERE id BETWEEN ? AND ? ORDER BY c",
            ),
            (
                "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 1 AND 100",
                "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN ? AND ?",
            ),
            (
                "SELECT DISTINCT c FROM sbtest2 WHERE id BETWEEN 7 AND 106 ORDER BY c",
                "SELECT DISTINCT c FROM sbtest2 WHERE id BETWEEN ? AND ? ORDER BY c",
            ),
            ("UPDATE sbtest1 SET k=k+1 WHERE id=42", "UPDATE sbtest1 SET k = k + ? WHERE id = ?"),
            (
                "UPDATE sbtest1 SET c='83868641912-28773972837-60736120486' WHERE id=5",
                "UPDATE sbtest1 SET c = ? WHERE id = ?",
            ),
            ("DELETE FROM sbtest1 WHERE id=5011", "DELETE FROM sbtest1 WHERE id = ?"),
            (
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 2, 'x', 'y')",
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES (...)",
            ),
            (
                "SELECT COUNT(*) FROM sbtest1 WHERE pad LIKE '%x%'",
                "SELECT COUNT(*) FROM sbtest1 WHERE pad LIKE ?",
            ),
            ("BEGIN", "BEGIN"),
            ("COMMIT", "COMMIT"),
        ]);
    }

    #[test]
    fn spacing_case_and_values_do_not_change_the_digest() {
        same(&[
            "SELECT c FROM sbtest1 WHERE id=5012",
            "select c from sbtest1 where id = 1",
            "  SELECT\tc\n  FROM sbtest1\r\n WHERE id  =  -7 ;",
            "SELECT c FROM sbtest1 WHERE id='5012'",
            "SELECT c FROM sbtest1 WHERE id = ?",
            "SELECT /* sysbench */ c FROM sbtest1 WHERE id=0x1F -- point select\n",
        ]);
        same(&[
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 2, 'x', 'y')",
            "insert into sbtest1(id,k,c,pad) values(0,-1,\"a\",'it''s')",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES (1,2,'x','y'),(3,4,'z','w'),(5,6,'v',NULL);",
            "INSERT INTO sbtest1 ( id , k , c , pad ) VALUES ( ? , ? , ? , ? )",
        ]);
        same(&[
            "SELECT * FROM t WHERE a IN (1, 2, 3)",
            "SELECT * FROM t WHERE a IN (1)",
            "select * from t where a in ('x','y', -4.5e3, NULL, ?)",
            "SELECT * FROM t WHERE a IN(1,2,3,4,5,6,7,8,9,10)",
        ]);
        same(&["SELECT SUM(k) FROM sbtest1", "select sum( k ) from sbtest1", "SELECT SUM (k) FROM sbtest1"]);
        same(&["UPDATE sbtest1 SET k=k+1 WHERE id=42", "update sbtest1 set k = k + 1000 where id = 7"]);
    }

    #[test]
    fn different_statements_have_different_digests() {
        let statements = [
            "SELECT c FROM sbtest1 WHERE id=1",
            "SELECT c FROM sbtest2 WHERE id=1",
            "SELECT pad FROM sbtest1 WHERE id=1",
            "SELECT c FROM sbtest1 WHERE id>1",
            "SELECT c FROM sbtest1 WHERE k=1",
            "DELETE FROM sbtest1 WHERE id=1",
            "SELECT c FROM Sbtest1 WHERE id=1",
            "SELECT c FROM `sbtest1` WHERE id=1",
            "SELECT c FROM sbtest1 WHERE id IN (1, 2)",
            "SELECT c FROM sbtest1 WHERE id IN (a, 2)",
        ];
        let digests: Vec<u64> = statements.iter().map(|s| digest(&norm(s))).collect();
        for i in 0..digests.len() {
            for j in i + 1..digests.len() {
                assert_ne!(digests[i], digests[j], "{} and {}", statements[i], statements[j]);
            }
        }
    }

    #[test]
    fn string_literals_and_their_escapes() {
        check(&[
            ("SELECT 'it''s' FROM t", "SELECT ? FROM t"),
            (r"SELECT 'it\'s', b FROM t", "SELECT ?, b FROM t"),
            (r#"SELECT "say \"hi\"", "a""b" FROM t"#, "SELECT ?, ? FROM t"),
            (r"SELECT * FROM t WHERE a = 'a\\' AND b = 'c'", "SELECT * FROM t WHERE a = ? AND b = ?"),
            ("SELECT * FROM t WHERE a = '' AND b = \"\"", "SELECT * FROM t WHERE a = ? AND b = ?"),
            ("SELECT 'a' 'b' FROM t", "SELECT ? FROM t"),
            ("SELECT N'x', _utf8mb4'y', _latin1\"z\" FROM t", "SELECT ?, ?, ? FROM t"),
            ("SELECT '-- not a comment', '/* nor this */' FROM t", "SELECT ?, ? FROM t"),
        ]);
    }

    #[test]
    fn numbers_of_every_form() {
        check(&[
            ("SELECT 1, 1.5, .5, 5., 1e10, 1.5E-3, 2e+7 FROM t", "SELECT ?, ?, ?, ?, ?, ?, ? FROM t"),
            (
                "SELECT 0xFF, 0x0a, X'0F', x'', b'101', B'1', 0b101 FROM t",
                "SELECT ?, ?, ?, ?, ?, ?, ? FROM t",
            ),
            ("SELECT TRUE, false FROM t", "SELECT ?, ? FROM t"),
            // Identifiers may begin with digits.
            ("SELECT a FROM 2024_sales", "SELECT a FROM 2024_sales"),
            ("SELECT 0xg, 0b12, 12e FROM t", "SELECT 0xg, 0b12, 12e FROM t"),
            ("SELECT t.5x FROM t", "SELECT t.5x FROM t"),
            ("SELECT t1.c FROM db.t1 t1", "SELECT t1.c FROM db.t1 t1"),
        ]);
    }

    #[test]
    fn signs_go_with_numbers_only_where_an_operand_is_expected() {
        check(&[
            ("SELECT -5", "SELECT ?"),
            ("-5", "?"),
            ("SELECT * FROM t WHERE a=-5 AND b=+3", "SELECT * FROM t WHERE a = ? AND b = ?"),
            ("SELECT * FROM t WHERE a BETWEEN -5 AND -1", "SELECT * FROM t WHERE a BETWEEN ? AND ?"),
            ("SELECT f(-1, -2.5), x * -2 FROM t", "SELECT f(...), x * ? FROM t"),
            ("SELECT a-5, a - 5, (a)-5, ?-5 FROM t", "SELECT a - ?, a - ?, (a) - ?, ? - ? FROM t"),
            ("SELECT 1--5", "SELECT ? - ?"),
            ("SELECT a + - -5, - - 5", "SELECT a + ?, ?"),
            ("SELECT -a FROM t", "SELECT - a FROM t"),
            ("UPDATE t SET k=k-1", "UPDATE t SET k = k - ?"),
        ]);
    }

    #[test]
    fn lists_of_values_collapse() {
        check(&[
            ("SELECT * FROM t WHERE a IN (1, 2, 3)", "SELECT * FROM t WHERE a IN (...)"),
            ("SELECT * FROM t WHERE a NOT IN ('x')", "SELECT * FROM t WHERE a NOT IN (...)"),
            ("SELECT * FROM t WHERE (a, b) IN ((1, 2), (3, 4))", "SELECT * FROM t WHERE (a, b) IN (...)"),
            ("SELECT * FROM t WHERE a IN (b, 2)", "SELECT * FROM t WHERE a IN (b, ?)"),
            (
                "SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = 1)",
                "SELECT * FROM t WHERE a IN (SELECT b FROM u WHERE c = ?)",
            ),
            ("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')", "INSERT INTO t VALUES (...)"),
            ("INSERT INTO t VALUES (1, NULL), (NULL, 2)", "INSERT INTO t VALUES (...)"),
            ("INSERT INTO t VALUES (1, a), (2, b)", "INSERT INTO t VALUES (?, a), (?, b)"),
            (
                "INSERT INTO t (a) VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a) + 1",
                "INSERT INTO t (a) VALUES (...) ON DUPLICATE KEY UPDATE a = VALUES (a) + ?",
            ),
            ("REPLACE INTO db.t(a, b) VALUES (1, 2)", "REPLACE INTO db.t (a, b) VALUES (...)"),
            ("SELECT NOW(), COUNT( * ), f() FROM t", "SELECT NOW(), COUNT(*), f() FROM t"),
            ("SELECT CONCAT(a, 'x'), IFNULL(b, 0) FROM t", "SELECT CONCAT(a, ?), IFNULL(b, ?) FROM t"),
            ("SELECT * FROM t LIMIT 10, 20", "SELECT * FROM t LIMIT ?, ?"),
            ("SELECT * FROM t LIMIT 10 OFFSET 5", "SELECT * FROM t LIMIT ? OFFSET ?"),
        ]);
        // Function arguments of only values collapse too, but rows of calls do not merge.
        check(&[("SELECT f(1), g(2, 3)", "SELECT f(...), g(...)"), ("SELECT (1), (2)", "SELECT (...)")]);
    }

    #[test]
    fn comments_go_and_hints_stay() {
        check(&[
            ("SELECT /* 42 */ a FROM t", "SELECT a FROM t"),
            ("SELECT a -- 42\nFROM t", "SELECT a FROM t"),
            ("SELECT a # 42\nFROM t", "SELECT a FROM t"),
            ("SELECT a FROM t -- trailing", "SELECT a FROM t"),
            ("SELECT a FROM t --", "SELECT a FROM t"),
            ("SELECT a/**/FROM t", "SELECT a FROM t"),
            (
                "SELECT /*+ MAX_EXECUTION_TIME(1000)   BKA(t1) */ a FROM t1",
                "SELECT /*+ MAX_EXECUTION_TIME(...) BKA(t1) */ a FROM t1",
            ),
            ("SELECT /*+*/ a FROM t", "SELECT /*+ */ a FROM t"),
            ("/*!40101 SET NAMES utf8mb4 */;", "SET NAMES utf8mb4"),
            ("/*!50503 SET character_set_client = 'x' */", "SET character_set_client = ?"),
            ("SELECT /*M!100100 a, */ b FROM t", "SELECT a, b FROM t"),
            ("/*!50001 SELECT '*/' */", "SELECT ?"),
            ("SELECT /*+ a /*+ b */ c */ d", "SELECT /*+ a */ c * / d"),
            ("SELECT /*+ a /*! b */ c", "SELECT /*+ a */ c"),
        ]);
    }

    #[test]
    fn keywords_are_upper_cased_and_identifiers_kept() {
        check(&[
            (
                "select `Order`, Name, `we``ird` from `My Table` as MT where MT.x=1 order by Name desc",
                "SELECT `Order`, Name, `we``ird` FROM `My Table` AS MT WHERE MT.x = ? ORDER BY Name DESC",
            ),
            ("select t.select, t.`from` from t", "SELECT t.select, t.`from` FROM t"),
            ("SET @a = 1, @@global.max_connections=10", "SET @a = ?, @@GLOBAL.max_connections = ?"),
            (
                "select a<=>b, a<>b, a!=b, a>=b, a->>'$.x' from t",
                "SELECT a <=> b, a <> b, a != b, a >= b, a ->> ? FROM t",
            ),
            ("SELECT a FROM t; SELECT b FROM u;;", "SELECT a FROM t; SELECT b FROM u"),
            ("SELECT a FROM t FOR UPDATE SKIP LOCKED", "SELECT a FROM t FOR UPDATE SKIP LOCKED"),
        ]);
    }

    #[test]
    fn a_cut_statement_ends_where_it_is_cut() {
        check(&[
            ("SELECT a FROM t WHERE b = 'abc", "SELECT a FROM t WHERE b = ?"),
            (r"SELECT a FROM t WHERE b = 'abc\", "SELECT a FROM t WHERE b = ?"),
            ("SELECT a FROM t WHERE b = 'it''", "SELECT a FROM t WHERE b = ?"),
            ("SELECT a FROM t /* comment", "SELECT a FROM t"),
            ("SELECT a FROM t /*+ BKA(t", "SELECT a FROM t /*+ BKA(...) */"),
            ("SELECT a FROM `unfinished", "SELECT a FROM `unfinished`"),
            ("SELECT a FROM `unfinished``", "SELECT a FROM `unfinished```"),
            ("SELECT a FROM t WHERE b IN (1, 2", "SELECT a FROM t WHERE b IN (...)"),
            ("SELECT a FROM t WHERE b IN (1, 2,", "SELECT a FROM t WHERE b IN (...)"),
            ("SELECT a FROM t WHERE b IN (c, 2", "SELECT a FROM t WHERE b IN (c, ?"),
            ("SELECT a FROM t WHERE b = -", "SELECT a FROM t WHERE b = ?"),
            ("SELECT a FROM t WHERE b = 0x", "SELECT a FROM t WHERE b = 0x"),
            ("SELECT a FROM t WHERE b = 12e", "SELECT a FROM t WHERE b = 12e"),
            ("SELECT a FROM t WHERE b IN (1, 0x", "SELECT a FROM t WHERE b IN (...)"),
            ("SELECT a FROM t WHERE b IN (1, NU", "SELECT a FROM t WHERE b IN (...)"),
            ("SELECT a FROM t WHERE b IN (1, -", "SELECT a FROM t WHERE b IN (...)"),
            ("SELECT a FROM t WHERE b IN (1, c d", "SELECT a FROM t WHERE b IN (?, c d"),
            ("SELECT a FROM t WHERE b IN (1;", "SELECT a FROM t WHERE b IN (...)"),
            ("SELECT a FROM t WHERE b = 1.5e-", "SELECT a FROM t WHERE b = ?"),
            ("", ""),
            ("   ", ""),
            (";", ""),
        ]);
    }

    #[test]
    fn deeply_nested_input_does_not_overflow() {
        for unit in ["/*!", "/*+", "(", "((1", "-", "`", "/*!(", "(/*+"] {
            let sql = unit.repeat(200_000);
            let _ = normalize(sql.as_bytes());
        }
    }

    #[test]
    fn a_multi_row_insert_cut_anywhere_in_its_rows_keeps_its_digest() {
        let mut sql = String::from("INSERT INTO sbtest1 (id, k, c, pad) VALUES ");
        let rows_start = sql.len() + 1;
        for i in 0..60 {
            if i > 0 {
                sql.push_str(", ");
            }
            let (k, c) = (i * 7, i * 3);
            sql.push_str(&format!(
                "({i}, -{k}, 'it''s \\'{i}\\'', \"{c}e{i}\", 1.5e-{i}, 0x{i:x}F, NULL, X'0{i:x}')"
            ));
        }
        assert!(sql.len() > 1024);
        let whole = norm(&sql);
        assert_eq!(whole, "INSERT INTO sbtest1 (id, k, c, pad) VALUES (...)");
        for cut in rows_start..sql.len() {
            assert_eq!(normalize(&sql.as_bytes()[..cut]), whole, "cut at {cut}: {:?}", &sql[..cut]);
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_panic() {
        assert_eq!(
            normalize(b"SELECT caf\xe9 FROM t WHERE x = '\xff\xfe'"),
            "SELECT caf\u{fffd} FROM t WHERE x = ?"
        );
        assert_eq!(normalize(b"SELECT `\xc3` FROM t\xc3"), "SELECT `\u{fffd}` FROM t\u{fffd}");
        assert_eq!(normalize(b"SELECT 1 \x00\x01 FROM t"), "SELECT ? FROM t");
        // Random bytes, and random mixes of SQL's special characters, at every length.
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"'\"`\\/*-+#()?,.;@!<>=:|&xXbBnN_01e9 \n\tselectINVALUES\xff\xc3";
        for len in (0..3000).map(|k| k % 300) {
            let random: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let sqlish: Vec<u8> =
                (0..len).map(|_| alphabet[rng.below(alphabet.len() as u64) as usize]).collect();
            for bytes in [&random, &sqlish] {
                let text = normalize(bytes);
                // Normalising is stable: the normal form normalises to itself.
                assert_eq!(normalize(text.as_bytes()), text, "{bytes:?}");
                let _ = digest(&text);
                let _ = is_prepare(&text);
            }
        }
    }

    /// A small deterministic xorshift generator, so that the generated tests are reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn between(&mut self, lo: u64, hi: u64) -> u64 {
            lo + self.below(hi - lo + 1)
        }

        fn letters(&mut self, n: usize) -> String {
            (0..n).map(|_| char::from(b'a' + self.below(26) as u8)).collect()
        }

        /// A literal of a random kind: its SQL text, and the part that must not survive.
        fn literal(&mut self) -> (String, String) {
            match self.below(10) {
                0 => {
                    let n = self.between(10_000, 999_999_999).to_string();
                    (n.clone(), n)
                }
                1 => {
                    let n = self.between(10_000, 999_999_999).to_string();
                    (format!("-{n}"), n)
                }
                2 => {
                    let n = format!("{}.{}", self.between(1_000, 99_999), self.between(1_000, 99_999));
                    (n.clone(), n)
                }
                3 => {
                    let n = format!(
                        "{}.{}e{}",
                        self.between(1_000, 9_999),
                        self.between(1_000, 9_999),
                        self.between(10, 99)
                    );
                    (n.clone(), n)
                }
                4 => {
                    let n = format!("{:X}", self.between(0x10_0000, 0xFFFF_FFFF));
                    (format!("0x{n}"), n)
                }
                5 => {
                    let n = format!("{:x}", self.between(0x10_0000, 0xFFFF_FFFF));
                    (format!("X'{n}'"), n)
                }
                6 => {
                    let n = format!("{:b}", self.between(0x1_0000, 0xF_FFFF));
                    (format!("b'{n}'"), n)
                }
                7 => {
                    let s = self.letters(10);
                    (format!("'{s}'"), s)
                }
                8 => {
                    let (a, b) = (self.letters(6), self.letters(6));
                    (format!("'{a}''{b}'"), format!("{a}'{b}"))
                }
                _ => {
                    let (a, b) = (self.letters(6), self.letters(6));
                    (format!("\"{a}\\\"{b}\""), a + &b)
                }
            }
        }
    }

    #[test]
    fn no_generated_literal_survives_and_each_template_has_one_digest() {
        let templates = [
            "SELECT c FROM sbtest1 WHERE id={}",
            "SELECT c FROM sbtest3 WHERE id BETWEEN {} AND {} ORDER BY c",
            "SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN {} AND {}",
            "UPDATE sbtest1 SET k=k+{} WHERE id={}",
            "UPDATE sbtest1 SET c={} WHERE id = {}",
            "INSERT INTO sbtest1 (id, k, c, pad) VALUES ({}, {}, {}, {})",
            "INSERT INTO t VALUES ({},{}),({}, {}),({},{})",
            "SELECT COUNT(*) FROM sbtest1 WHERE pad LIKE {}",
            "select * from t where a in ({}, {}, {}) and b > {} limit {}",
            "SELECT /*+ MAX_EXECUTION_TIME({}) */ a FROM t WHERE b = {};",
            "SELECT a FROM t WHERE b = {} -- note {}\nAND c<{} # and {}\n",
            "SELECT a FROM t WHERE b = {} /* {} */ AND c = CONCAT({}, a)",
            "/*!40101 SET @x = {} */",
        ];
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for template in templates {
            let mut seen: Option<String> = None;
            for _ in 0..300 {
                let mut sql = String::new();
                let mut literals = Vec::new();
                for (i, part) in template.split("{}").enumerate() {
                    if i > 0 {
                        let (text, core) = rng.literal();
                        sql.push_str(&text);
                        literals.push(core);
                    }
                    sql.push_str(part);
                }
                let normalized = norm(&sql);
                for core in &literals {
                    assert!(
                        !normalized.contains(core.as_str()),
                        "{core:?} survives in {normalized:?} (from {sql:?})"
                    );
                }
                match &seen {
                    None => seen = Some(normalized),
                    Some(first) => assert_eq!(&normalized, first, "from {sql:?}"),
                }
            }
        }
    }

    #[test]
    fn word_lists_are_sorted_upper_case_and_apart() {
        for list in [KEYWORDS, FUNCTIONS, TABLE_INTRODUCERS, OPERAND_BEFORE] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?} is not sorted");
            assert!(list.iter().all(|w| *w == w.to_ascii_uppercase()), "{list:?}");
        }
        for word in KEYWORDS {
            assert!(!in_list(FUNCTIONS, word), "{word} is both a keyword and a function");
        }
        for word in TABLE_INTRODUCERS.iter().chain(OPERAND_BEFORE) {
            assert!(in_list(KEYWORDS, word), "{word} is not a keyword");
        }
    }

    #[test]
    fn digest_is_fnv1a_64() {
        // The published FNV-1a test vectors.
        assert_eq!(digest(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(digest("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(digest("foobar"), 0x8594_4171_f739_67e8);
        // And a pinned value, so that a change of normal form shows up here.
        let n = norm("SELECT c FROM sbtest1 WHERE id=5012");
        assert_eq!(digest(&n), digest("SELECT c FROM sbtest1 WHERE id = ?"));
    }

    #[test]
    fn prepare_is_recognised() {
        for yes in [
            "PREPARE stmt FROM 'SELECT c FROM sbtest1 WHERE id = ?'",
            "prepare s1 from @sql",
            "PREPARE `my stmt` FROM 'SELECT 1'",
            "PREPARE `a``b` FROM @q",
            "/* why */ PREPARE s FROM 'x'",
        ] {
            assert!(is_prepare(&norm(yes)), "{yes} gives {}", norm(yes));
        }
        for no in [
            "EXECUTE stmt USING @a",
            "DEALLOCATE PREPARE stmt",
            "XA PREPARE 'xid'",
            "SELECT prepare FROM t",
            "PREPARE",
            "PREPARE stmt",
            "PREPARE `unterminated FROM x",
            "PREPARED s FROM 'x'",
            "PREPARE s FROMAGE 'x'",
            "",
        ] {
            assert!(!is_prepare(&norm(no)), "{no} gives {}", norm(no));
        }
        assert_eq!(norm("prepare s1 from 'SELECT 1'"), "PREPARE s1 FROM ?");
    }
}
