//! The JSON syntax .NET's configuration provider accepts, parsed into a tree that remembers
//! where every token is (the merge splices the original text; a serializer would lose it).
//!
//! The provider (`JsonConfigurationFileParser` in `Microsoft.Extensions.Configuration.Json`)
//! parses with `JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = Skip,
//! AllowTrailingCommas = true })`, so the rules here are System.Text.Json's `Utf8JsonReader`
//! with those options and its default `MaxDepth`:
//! - RFC 8259 JSON: whitespace is only space, tab, CR and LF; strings have no raw control
//!   characters and only the standard escapes; `\u` escapes must pair surrogates (an unpaired
//!   one fails when .NET reads the string); numbers follow the RFC grammar exactly.
//! - `//` comments run to the next CR or LF (a U+2028 or U+2029 inside one is an error in
//!   `Utf8JsonReader`); `/* */` comments must be closed. Comments may stand wherever whitespace
//!   may, except between a property name and its `:` (`ConsumePropertyName` skips only
//!   whitespace there).
//! - One trailing comma is allowed after the last member or element (`{,}` and `[1,,]` are not).
//! - At most 64 nested objects and arrays (`JsonReaderOptions.DefaultMaxDepth`; a 65th
//!   `StartObject`/`StartArray` throws).
//! - Exactly one value in the document. Duplicate property names are *not* a syntax error:
//!   `JsonDocument` keeps them, and the configuration reader (`dotnet.rs`) decides.

use super::SettingsError;

/// .NET's default maximum nesting of objects and arrays.
pub(super) const MAX_DEPTH: usize = 64;

/// A value and the bytes `[start, end)` it occupies in the text.
#[derive(Debug)]
pub(super) struct Node {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
}

#[derive(Debug)]
pub(super) enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    /// A string, unescaped.
    String(String),
    /// A number; its text is the node's span (kept exactly, as .NET keeps it).
    Number,
    True,
    False,
    Null,
}

/// A property of an object.
#[derive(Debug)]
pub(super) struct Member {
    /// The name, unescaped.
    pub key: String,
    /// The name token, quotes included.
    pub key_start: usize,
    pub key_end: usize,
    pub value: Node,
    /// The comma that follows the value, if any (after comments, possibly on a later line).
    pub comma: Option<usize>,
}

impl Node {
    pub fn is_container(&self) -> bool {
        matches!(self.kind, Kind::Object(_) | Kind::Array(_))
    }

    /// True for an object or array with nothing in it.
    pub fn is_empty_container(&self) -> bool {
        match &self.kind {
            Kind::Object(members) => members.is_empty(),
            Kind::Array(items) => items.is_empty(),
            _ => false,
        }
    }
}

/// Parses a whole settings file: one object, as the configuration provider requires (it throws
/// `FormatException` for any other top-level value).
pub(super) fn parse_document(text: &str) -> Result<Node, SettingsError> {
    let root = parse_value(text)?;
    if !matches!(root.kind, Kind::Object(_)) {
        return Err(SettingsError::Syntax {
            line: 1,
            column: 1,
            problem: "a settings file must be a JSON object ({ ... })".into(),
        });
    }
    Ok(root)
}

/// Parses one JSON value of any kind (the file's root, or a value a change carries).
pub(super) fn parse_value(text: &str) -> Result<Node, SettingsError> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    parser.skip_blank()?;
    if parser.at == parser.bytes.len() {
        return Err(parser.error("the file holds no JSON value"));
    }
    let root = parser.value()?;
    parser.skip_blank()?;
    if parser.at != parser.bytes.len() {
        return Err(parser.error("unexpected text after the end of the document"));
    }
    Ok(root)
}

/// Line and column (both from 1, the column in characters) of byte `offset` in `text`.
pub(super) fn position(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}

struct Parser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    at: usize,
    /// Objects and arrays open around the current position.
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, problem: &str) -> SettingsError {
        let (line, column) = position(self.text, self.at);
        SettingsError::Syntax {
            line,
            column,
            problem: problem.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.at += 1;
        }
    }

    /// Skips whitespace and comments.
    fn skip_blank(&mut self) -> Result<(), SettingsError> {
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'/') {
                return Ok(());
            }
            match self.bytes.get(self.at + 1) {
                Some(b'/') => {
                    let rest = &self.text[self.at..];
                    let end = rest.find(['\n', '\r']).unwrap_or(rest.len());
                    if let Some(i) = rest[..end].find(['\u{2028}', '\u{2029}']) {
                        self.at += i;
                        return Err(self.error(
                            "a // comment holds a line or paragraph separator (U+2028/U+2029), which .NET refuses",
                        ));
                    }
                    self.at += end;
                }
                Some(b'*') => {
                    let close = self.text[self.at + 2..]
                        .find("*/")
                        .ok_or_else(|| self.error("a /* comment is never closed"))?;
                    self.at += 2 + close + 2;
                }
                _ => return Err(self.error("'/' that does not start a comment")),
            }
        }
    }

    fn value(&mut self) -> Result<Node, SettingsError> {
        let start = self.at;
        let kind = match self.peek() {
            Some(b'{') => return self.object(),
            Some(b'[') => return self.array(),
            Some(b'"') => Kind::String(self.string()?),
            Some(b'-' | b'0'..=b'9') => {
                self.number()?;
                Kind::Number
            }
            Some(b't') => self.literal("true", Kind::True)?,
            Some(b'f') => self.literal("false", Kind::False)?,
            Some(b'n') => self.literal("null", Kind::Null)?,
            Some(_) => return Err(self.error("expected a value")),
            None => return Err(self.error("unexpected end of the file")),
        };
        Ok(Node {
            start,
            end: self.at,
            kind,
        })
    }

    fn literal(&mut self, word: &str, kind: Kind) -> Result<Kind, SettingsError> {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(kind)
        } else {
            Err(self.error(&format!("expected '{word}'")))
        }
    }

    /// RFC 8259: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, then a delimiter.
    fn number(&mut self) -> Result<(), SettingsError> {
        let start = self.at;
        let digits = |p: &mut Self| {
            let from = p.at;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.at += 1;
            }
            p.at - from
        };
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return Err(self.error("a number needs a digit here")),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.error("a number needs a digit after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("a number needs a digit in its exponent"));
            }
        }
        match self.peek() {
            None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n' | b'/') => Ok(()),
            Some(_) => {
                self.at = start;
                Err(self.error("not a valid JSON number"))
            }
        }
    }

    /// Reads a string token and returns its content, unescaped.
    fn string(&mut self) -> Result<String, SettingsError> {
        let start = self.at;
        self.at += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.at..];
            let Some(c) = rest.chars().next() else {
                self.at = start;
                return Err(self.error("a string is never closed"));
            };
            match c {
                '"' => {
                    self.at += 1;
                    return Ok(out);
                }
                '\\' => {
                    self.at += 1;
                    out.push(self.escape()?);
                }
                c if (c as u32) < 0x20 => {
                    return Err(
                        self.error("a control character (such as a line break) inside a string")
                    );
                }
                c => {
                    out.push(c);
                    self.at += c.len_utf8();
                }
            }
        }
    }

    /// The character an escape stands for; `self.at` is just after the backslash.
    fn escape(&mut self) -> Result<char, SettingsError> {
        let simple = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.at += 1;
                let first = self.hex4()?;
                return match first {
                    0xD800..=0xDBFF => {
                        if !self.text[self.at..].starts_with("\\u") {
                            return Err(
                                self.error("an unpaired surrogate escape (\\uD800-\\uDBFF)")
                            );
                        }
                        self.at += 2;
                        let second = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(
                                self.error("an unpaired surrogate escape (\\uD800-\\uDBFF)")
                            );
                        }
                        let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                        Ok(char::from_u32(code).expect("a surrogate pair is a character"))
                    }
                    0xDC00..=0xDFFF => {
                        Err(self.error("an unpaired surrogate escape (\\uDC00-\\uDFFF)"))
                    }
                    code => Ok(char::from_u32(code).expect("not a surrogate")),
                };
            }
            _ => return Err(self.error("an invalid escape in a string")),
        };
        self.at += 1;
        Ok(simple)
    }

    fn hex4(&mut self) -> Result<u32, SettingsError> {
        let digits = self
            .text
            .get(self.at..self.at + 4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| self.error("\\u needs four hexadecimal digits"))?;
        self.at += 4;
        Ok(u32::from_str_radix(digits, 16).expect("checked hex digits"))
    }

    fn enter(&mut self) -> Result<(), SettingsError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error("nested more than 64 levels deep (.NET's limit)"));
        }
        self.depth += 1;
        self.at += 1;
        Ok(())
    }

    fn object(&mut self) -> Result<Node, SettingsError> {
        let start = self.at;
        self.enter()?;
        let mut members = Vec::new();
        self.skip_blank()?;
        if self.peek() != Some(b'}') {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(self.error("expected a property name in double quotes"));
                }
                let key_start = self.at;
                let key = self.string()?;
                let key_end = self.at;
                // Only whitespace may separate a name from its colon (Utf8JsonReader).
                self.skip_whitespace();
                if self.peek() != Some(b':') {
                    return Err(self.error("expected ':' after the property name"));
                }
                self.at += 1;
                self.skip_blank()?;
                let value = self.value()?;
                self.skip_blank()?;
                let comma = (self.peek() == Some(b',')).then_some(self.at);
                members.push(Member {
                    key,
                    key_start,
                    key_end,
                    value,
                    comma,
                });
                match self.peek() {
                    Some(b',') => {
                        self.at += 1;
                        self.skip_blank()?;
                        if self.peek() == Some(b'}') {
                            break;
                        }
                    }
                    Some(b'}') => break,
                    _ => return Err(self.error("expected ',' or '}'")),
                }
            }
        }
        self.at += 1;
        self.depth -= 1;
        Ok(Node {
            start,
            end: self.at,
            kind: Kind::Object(members),
        })
    }

    fn array(&mut self) -> Result<Node, SettingsError> {
        let start = self.at;
        self.enter()?;
        let mut items = Vec::new();
        self.skip_blank()?;
        if self.peek() != Some(b']') {
            loop {
                items.push(self.value()?);
                self.skip_blank()?;
                match self.peek() {
                    Some(b',') => {
                        self.at += 1;
                        self.skip_blank()?;
                        if self.peek() == Some(b']') {
                            break;
                        }
                    }
                    Some(b']') => break,
                    _ => return Err(self.error("expected ',' or ']'")),
                }
            }
        }
        self.at += 1;
        self.depth -= 1;
        Ok(Node {
            start,
            end: self.at,
            kind: Kind::Array(items),
        })
    }
}

// ---------------------------------------------------------------------------------------
// The text between tokens

/// One piece of the text between two tokens of a parsed document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GapKind {
    /// Spaces and tabs.
    Space,
    /// `\n`, `\r\n` or a lone `\r`.
    Newline,
    LineComment,
    BlockComment,
    Comma,
    /// Anything else: the gap ends here (a token starts).
    Token,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Gap {
    pub kind: GapKind,
    pub start: usize,
    pub end: usize,
}

/// The pieces of the text from `from` up to the next token (or `to`). Only for text the
/// parser accepted, so every comment found here is closed.
pub(super) fn gaps(text: &str, from: usize, to: usize) -> Vec<Gap> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let start = at;
        let kind = match bytes[at] {
            b' ' | b'\t' => {
                while at < to && matches!(bytes[at], b' ' | b'\t') {
                    at += 1;
                }
                GapKind::Space
            }
            b'\r' if bytes.get(at + 1) == Some(&b'\n') => {
                at += 2;
                GapKind::Newline
            }
            b'\n' | b'\r' => {
                at += 1;
                GapKind::Newline
            }
            b',' => {
                at += 1;
                GapKind::Comma
            }
            b'/' if bytes.get(at + 1) == Some(&b'/') => {
                at += text[at..to].find(['\n', '\r']).unwrap_or(to - at);
                GapKind::LineComment
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => {
                at += text[at + 2..to]
                    .find("*/")
                    .map(|i| i + 4)
                    .unwrap_or(to - at);
                GapKind::BlockComment
            }
            _ => GapKind::Token,
        };
        out.push(Gap {
            kind,
            start,
            end: at,
        });
        if kind == GapKind::Token {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(text: &str) -> bool {
        parse_value(text).is_ok()
    }

    #[test]
    fn the_rules_of_system_text_json_with_the_providers_options() {
        for ok in [
            "{}",
            "{\"a\": 1,}",
            "[1, 2,]",
            "// lead\n{ /* in */ \"a\" : /* after colon */ 1 // tail\n}",
            "{\"a\": -0.5e+10, \"b\": 0, \"c\": 12345678901234567890123}",
            "{\"a\": \"\\ud83d\\ude00 \\u00e9 \\/\"}",
            "{\"a\": \"\u{2028}\"}",
            "{\"a\": 1}\r\n// after\r\n",
        ] {
            assert!(accepts(ok), "{ok}");
        }
        for bad in [
            "",
            "// only a comment",
            "{,}",
            "[1,,]",
            "{\"a\" /* c */ : 1}",
            "{\"a\": 01}",
            "{\"a\": 1.}",
            "{\"a\": +1}",
            "{\"a\": .5}",
            "{\"a\": NaN}",
            "{\"a\": tru}",
            "{\"a\": \"\\ud800\"}",
            "{\"a\": \"\\udc00\"}",
            "{\"a\": \"\\x\"}",
            "{\"a\": \"line\nbreak\"}",
            "{'a': 1}",
            "{a: 1}",
            "{\"a\": 1} {}",
            "{\"a\": 1 /* open",
            "{\"a\": 1} // \u{2028} x",
            "{\"a\": 1}\u{a0}",
            "\u{feff}{}",
        ] {
            assert!(!accepts(bad), "{bad:?}");
        }
    }

    #[test]
    fn depth_limit_is_64_containers() {
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(accepts(&nested(64)));
        let err = parse_value(&nested(65)).unwrap_err();
        assert!(err.to_string().contains("64 levels"), "{err}");
        let objects = |n: usize| format!("{}1{}", "{\"a\":".repeat(n), "}".repeat(n));
        assert!(accepts(&objects(64)));
        assert!(!accepts(&objects(65)));
    }

    #[test]
    fn spans_and_commas_are_recorded() {
        let text = "{ \"a\" : 1 /* x, y */ , \"b\": [true] }";
        let root = parse_document(text).unwrap();
        let Kind::Object(members) = &root.kind else {
            panic!()
        };
        assert_eq!(&text[members[0].key_start..members[0].key_end], "\"a\"");
        assert_eq!(&text[members[0].value.start..members[0].value.end], "1");
        assert_eq!(members[0].comma.map(|c| &text[c..c + 1]), Some(","));
        assert_eq!(members[0].comma, Some(text.find(" , ").unwrap() + 1));
        assert_eq!(members[1].comma, None);
        assert_eq!((root.start, root.end), (0, text.len()));
    }

    #[test]
    fn errors_say_where() {
        let err = parse_document("{\n  \"a\": 1,\n  \"b\" 2\n}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "not valid JSON at line 3, column 7: expected ':' after the property name"
        );
        let err = parse_document("[1]").unwrap_err();
        assert!(err.to_string().contains("must be a JSON object"), "{err}");
    }

    #[test]
    fn gaps_split_comments_commas_and_lines() {
        let text = "1 /* a, b */ , // c, d\r\n  x";
        let kinds: Vec<GapKind> = gaps(text, 1, text.len()).iter().map(|g| g.kind).collect();
        use GapKind::*;
        assert_eq!(
            kinds,
            [
                Space,
                BlockComment,
                Space,
                Comma,
                Space,
                LineComment,
                Newline,
                Space,
                Token
            ]
        );
    }
}
