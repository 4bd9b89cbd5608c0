//! The text encoding of a settings file: detected from its byte order mark as .NET's
//! `StreamReader` detects it (the JSON configuration provider reads files through a
//! `StreamReader` with BOM detection on and UTF-8 as the default), and written back in the
//! same encoding, BOM included, so a merge changes only the characters it means to.
//!
//! One deliberate difference: .NET replaces bytes that are not valid in the encoding with
//! U+FFFD and loads the file anyway; hubup refuses such a file, because writing it back would
//! silently change bytes the administrator never touched.

use super::SettingsError;

/// How a settings file's text is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    /// UTF-8 without a BOM (what .NET assumes when there is none).
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Utf32Le,
    Utf32Be,
}

impl Encoding {
    fn bom(self) -> &'static [u8] {
        match self {
            Encoding::Utf8 => b"",
            Encoding::Utf8Bom => b"\xEF\xBB\xBF",
            Encoding::Utf16Le => b"\xFF\xFE",
            Encoding::Utf16Be => b"\xFE\xFF",
            Encoding::Utf32Le => b"\xFF\xFE\x00\x00",
            Encoding::Utf32Be => b"\x00\x00\xFE\xFF",
        }
    }

    /// The encoding a BOM at the start of `bytes` announces. UTF-32 LE is tested before
    /// UTF-16 LE: its BOM starts with UTF-16 LE's (StreamReader checks in the same order).
    fn detect(bytes: &[u8]) -> Encoding {
        [
            Encoding::Utf32Le,
            Encoding::Utf32Be,
            Encoding::Utf8Bom,
            Encoding::Utf16Le,
            Encoding::Utf16Be,
        ]
        .into_iter()
        .find(|e| bytes.starts_with(e.bom()))
        .unwrap_or(Encoding::Utf8)
    }
}

/// The text of a settings file (BOM removed) and how it was stored.
pub(super) fn decode(bytes: &[u8]) -> Result<(Encoding, String), SettingsError> {
    let encoding = Encoding::detect(bytes);
    let body = &bytes[encoding.bom().len()..];
    let text = match encoding {
        Encoding::Utf8 | Encoding::Utf8Bom => std::str::from_utf8(body)
            .map(str::to_string)
            .map_err(|e| invalid(&body[..e.valid_up_to()], "not valid UTF-8 text"))?,
        Encoding::Utf16Le | Encoding::Utf16Be => {
            if body.len() % 2 != 0 {
                return Err(invalid_text(
                    "",
                    "not valid UTF-16 text (an odd number of bytes)",
                ));
            }
            let units = body.chunks_exact(2).map(|pair| match encoding {
                Encoding::Utf16Le => u16::from_le_bytes([pair[0], pair[1]]),
                _ => u16::from_be_bytes([pair[0], pair[1]]),
            });
            let mut text = String::with_capacity(body.len() / 2);
            for unit in char::decode_utf16(units) {
                match unit {
                    Ok(c) => text.push(c),
                    Err(_) => return Err(invalid_text(&text, "not valid UTF-16 text")),
                }
            }
            text
        }
        Encoding::Utf32Le | Encoding::Utf32Be => {
            if body.len() % 4 != 0 {
                return Err(invalid_text("", "not valid UTF-32 text (length)"));
            }
            let mut text = String::with_capacity(body.len() / 4);
            for quad in body.chunks_exact(4) {
                let bytes = [quad[0], quad[1], quad[2], quad[3]];
                let value = match encoding {
                    Encoding::Utf32Le => u32::from_le_bytes(bytes),
                    _ => u32::from_be_bytes(bytes),
                };
                match char::from_u32(value) {
                    Some(c) => text.push(c),
                    None => return Err(invalid_text(&text, "not valid UTF-32 text")),
                }
            }
            text
        }
    };
    Ok((encoding, text))
}

/// `text` stored in `encoding`, BOM first.
pub(super) fn encode(encoding: Encoding, text: &str) -> Vec<u8> {
    let mut out = encoding.bom().to_vec();
    match encoding {
        Encoding::Utf8 | Encoding::Utf8Bom => out.extend_from_slice(text.as_bytes()),
        Encoding::Utf16Le => text
            .encode_utf16()
            .for_each(|u| out.extend_from_slice(&u.to_le_bytes())),
        Encoding::Utf16Be => text
            .encode_utf16()
            .for_each(|u| out.extend_from_slice(&u.to_be_bytes())),
        Encoding::Utf32Le => text
            .chars()
            .for_each(|c| out.extend_from_slice(&(c as u32).to_le_bytes())),
        Encoding::Utf32Be => text
            .chars()
            .for_each(|c| out.extend_from_slice(&(c as u32).to_be_bytes())),
    }
    out
}

fn invalid(valid_prefix: &[u8], problem: &str) -> SettingsError {
    invalid_text(&String::from_utf8_lossy(valid_prefix), problem)
}

fn invalid_text(valid_prefix: &str, problem: &str) -> SettingsError {
    let (line, column) = super::syntax::position(valid_prefix, valid_prefix.len());
    SettingsError::Syntax {
        line,
        column,
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bom_round_trips() {
        let text = "{\"Zoë\": \"€ 𝄞\"}\r\n";
        for encoding in [
            Encoding::Utf8,
            Encoding::Utf8Bom,
            Encoding::Utf16Le,
            Encoding::Utf16Be,
            Encoding::Utf32Le,
            Encoding::Utf32Be,
        ] {
            let bytes = encode(encoding, text);
            assert_eq!(decode(&bytes).unwrap(), (encoding, text.to_string()));
        }
    }

    #[test]
    fn broken_text_is_refused_with_its_place() {
        let err = decode(b"{\n  \"a\": \"\xFF\"}").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        // A lone surrogate in UTF-16.
        assert!(decode(b"\xFF\xFE{\x00\x00\xD8}\x00").is_err());
        assert!(decode(b"\xFF\xFE{\x00}").is_err());
    }
}
