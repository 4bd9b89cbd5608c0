//! TDS on the wire: packet framing, the PRELOGIN and LOGIN7 messages, SQL batch and RPC
//! (sp_executesql) request decoding with parameter values, and the encoding of a [`Reply`] as
//! tokens. Byte layouts follow what tiberius 0.13 sends and parses (MS-TDS where it agrees).

use std::io::{self, Read, Write};

use super::reply::{ColType, Column, Reply, SqlError, Value};

pub const PT_BATCH: u8 = 0x01;
pub const PT_RPC: u8 = 0x03;
pub const PT_REPLY: u8 = 0x04;
pub const PT_ATTENTION: u8 = 0x06;
pub const PT_TRANSACTION_MANAGER: u8 = 0x0E;
pub const PT_LOGIN7: u8 = 0x10;
pub const PT_PRELOGIN: u8 = 0x12;

/// PRELOGIN ENCRYPTION values: TLS for the login only, and none at all.
pub const ENCRYPT_OFF: u8 = 0x00;
pub const ENCRYPT_NOT_SUP: u8 = 0x02;

/// The TDS version we acknowledge (7.4); tiberius then reads 8-byte DONE row counts.
const TDS_74: u32 = 0x7400_0004;
/// SQL_Latin1_General_CP1_CI_AS: LCID 0x0409 with the case/accent/kana/width flags, sort 52.
const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];
pub const SERVER_NAME: &str = "TDSSTANDIN";

/// One client message: the packets of one request, concatenated.
pub struct Message {
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Reads packets up to the end-of-message one. `None` when the client closed between messages.
pub fn read_message(stream: &mut impl Read) -> io::Result<Option<Message>> {
    let mut payload = Vec::new();
    let mut kind = None;
    loop {
        let mut header = [0u8; 8];
        if let Err(e) = stream.read_exact(&mut header) {
            return match (e.kind(), kind) {
                (io::ErrorKind::UnexpectedEof, None) => Ok(None),
                _ => Err(e),
            };
        }
        let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if length < 8 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("packet length {length} is below the 8-byte header"),
            ));
        }
        let start = payload.len();
        payload.resize(start + length - 8, 0);
        stream.read_exact(&mut payload[start..])?;
        let kind = *kind.get_or_insert(header[0]);
        if header[1] & 0x01 != 0 {
            return Ok(Some(Message { kind, payload }));
        }
    }
}

/// Writes `payload` as packets of at most `packet_size` bytes, the last one marked EOM.
pub fn write_message(
    stream: &mut impl Write,
    kind: u8,
    payload: &[u8],
    packet_size: usize,
    spid: u16,
) -> io::Result<()> {
    let mut chunks: Vec<&[u8]> = payload.chunks(packet_size - 8).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let mut out = Vec::with_capacity(payload.len() + 8 * chunks.len());
    for (index, chunk) in chunks.iter().enumerate() {
        out.push(kind);
        out.push(u8::from(index + 1 == chunks.len()));
        out.extend_from_slice(&((chunk.len() + 8) as u16).to_be_bytes());
        out.extend_from_slice(&spid.to_be_bytes());
        out.push((index + 1) as u8);
        out.push(0);
        out.extend_from_slice(chunk);
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// The first whole message in `buf` (packets up to one marked EOM), if it holds one.
pub fn whole_message(buf: &[u8]) -> Option<Message> {
    read_message(&mut std::io::Cursor::new(buf)).ok().flatten()
}

/// A bounds-checked little-endian reader over a message payload.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end =
            end.ok_or_else(|| format!("message ends early (need {n} bytes at {})", self.pos))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes(b.try_into().unwrap()))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.bytes(8)?;
        Ok(u64::from_le_bytes(b.try_into().unwrap()))
    }

    fn at_end(&self) -> bool {
        self.pos == self.buf.len()
    }

    fn b_varchar(&mut self) -> Result<String, String> {
        let chars = usize::from(self.u8()?);
        utf16(self.bytes(chars * 2)?)
    }
}

fn utf16(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() % 2 != 0 {
        return Err(format!("odd UTF-16 byte length {}", bytes.len()));
    }
    let units = bytes.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|e| format!("invalid UTF-16: {e}"))
}

/// The ENCRYPTION option of a client PRELOGIN, if it sent one.
pub fn prelogin_encryption(payload: &[u8]) -> Result<Option<u8>, String> {
    let mut pos = 0;
    while let Some(&token) = payload.get(pos) {
        if token == 0xFF {
            return Ok(None);
        }
        let entry = payload
            .get(pos..pos + 5)
            .ok_or("PRELOGIN option table ends early")?;
        let offset = usize::from(u16::from_be_bytes([entry[1], entry[2]]));
        if token == 0x01 {
            return payload
                .get(offset)
                .map(|&v| Some(v))
                .ok_or_else(|| "PRELOGIN ENCRYPTION offset out of range".to_string());
        }
        pos += 5;
    }
    Err("PRELOGIN option table has no terminator".to_string())
}

/// The PRELOGIN answer: VERSION, ENCRYPTION (`encryption`), INSTOPT (valid), an empty
/// THREADID (tiberius debug-asserts it is 0) and MARS off.
pub fn prelogin_reply(encryption: u8) -> Vec<u8> {
    let options: [(u8, &[u8]); 5] = [
        (0x00, &[16, 0, 0x07, 0xD0, 0, 0]),
        (0x01, &[encryption]),
        (0x02, &[0]),
        (0x03, &[]),
        (0x04, &[0]),
    ];
    let mut table = Vec::new();
    let mut data = Vec::new();
    let mut offset = options.len() * 5 + 1;
    for (token, value) in options {
        table.push(token);
        table.extend_from_slice(&(offset as u16).to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
        offset += value.len();
    }
    table.push(0xFF);
    table.extend(data);
    table
}

/// What the stand-in needs from LOGIN7.
pub struct Login7 {
    pub user: String,
    pub password: String,
    pub database: String,
    pub packet_size: u32,
}

/// Parses LOGIN7: a fixed part, then (offset, length in UTF-16 units) pairs from byte 36.
pub fn parse_login7(payload: &[u8]) -> Result<Login7, String> {
    if payload.len() < 94 {
        return Err(format!("LOGIN7 of {} bytes is too short", payload.len()));
    }
    let field = |index: usize| -> Result<&[u8], String> {
        let at = 36 + 4 * index;
        let offset = usize::from(u16::from_le_bytes([payload[at], payload[at + 1]]));
        let chars = usize::from(u16::from_le_bytes([payload[at + 2], payload[at + 3]]));
        payload
            .get(offset..offset + chars * 2)
            .ok_or_else(|| format!("LOGIN7 field {index} lies outside the message"))
    };
    Ok(Login7 {
        user: utf16(field(1)?)?,
        password: utf16(&unscramble(field(2)?))?,
        database: utf16(field(8)?)?,
        packet_size: u32::from_le_bytes(payload[8..12].try_into().unwrap()),
    })
}

/// Reverses the LOGIN7 password scrambling (each byte: nibbles swapped, then XOR 0xA5).
fn unscramble(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|b| (b ^ 0xA5).rotate_left(4)).collect()
}

/// One request: the statement text and its `@P1..` parameter values (none for a batch).
#[derive(Debug)]
pub struct Request {
    pub text: String,
    pub args: Vec<Value>,
    /// Sent as an RPC (sp_executesql) rather than a batch.
    pub rpc: bool,
}

/// Skips ALL_HEADERS (a u32 total length that counts itself).
fn skip_all_headers(reader: &mut Reader) -> Result<(), String> {
    let total = reader.u32()? as usize;
    if total < 4 {
        return Err(format!("ALL_HEADERS length {total} is below 4"));
    }
    reader.bytes(total - 4).map(|_| ())
}

/// SQL batch: ALL_HEADERS, then the text as UTF-16LE.
pub fn parse_batch(payload: &[u8]) -> Result<Request, String> {
    let mut reader = Reader::new(payload);
    skip_all_headers(&mut reader)?;
    let text = utf16(&payload[reader.pos..])?;
    Ok(Request {
        text,
        args: Vec::new(),
        rpc: false,
    })
}

/// RPC: ALL_HEADERS, proc id 0xFFFF + 10 (sp_executesql), option flags, then parameters
/// `stmt`, `params` (the declaration) and `@P1`, `@P2`, ...
pub fn parse_rpc(payload: &[u8]) -> Result<Request, String> {
    let mut reader = Reader::new(payload);
    skip_all_headers(&mut reader)?;
    let name_len = reader.u16()?;
    if name_len != 0xFFFF {
        let name = utf16(reader.bytes(usize::from(name_len) * 2)?)?;
        return Err(format!(
            "RPC to procedure {name:?}; only sp_executesql (id 10) is supported"
        ));
    }
    let proc_id = reader.u16()?;
    if proc_id != 10 {
        return Err(format!(
            "RPC to procedure id {proc_id}; only sp_executesql (10) is supported"
        ));
    }
    reader.u16()?;
    let mut params = Vec::new();
    while !reader.at_end() {
        let name = reader.b_varchar()?;
        reader.u8()?;
        params.push((name, read_value(&mut reader)?));
    }
    split_params(params)
}

/// Separates sp_executesql's own parameters from the statement's, checking their names.
fn split_params(params: Vec<(String, Value)>) -> Result<Request, String> {
    let mut params = params.into_iter();
    let text = match params.next() {
        Some((_, Value::Str(text))) => text,
        other => return Err(format!("sp_executesql without a statement text: {other:?}")),
    };
    match params.next() {
        None | Some((_, Value::Str(_))) => {}
        Some(other) => {
            return Err(format!(
                "sp_executesql declaration is not a string: {other:?}"
            ));
        }
    }
    let mut args = Vec::new();
    for (index, (name, value)) in params.enumerate() {
        if name != format!("@P{}", index + 1) {
            return Err(format!("parameter {} is named {name:?}", index + 1));
        }
        args.push(value);
    }
    Ok(Request {
        text,
        args,
        rpc: true,
    })
}

/// TYPE_INFO then the value, for the types tiberius sends for scalar parameters.
fn read_value(reader: &mut Reader) -> Result<Value, String> {
    let text = |bytes: Option<Vec<u8>>, decode: fn(&[u8]) -> Result<String, String>| {
        bytes.map_or(Ok(Value::Null), |b| decode(&b).map(Value::Str))
    };
    match reader.u8()? {
        0x1F => Ok(Value::Null),
        0x26 => {
            reader.u8()?;
            read_intn(reader)
        }
        0x68 => {
            reader.u8()?;
            match reader.u8()? {
                0 => Ok(Value::Null),
                1 => Ok(Value::Bit(reader.u8()? != 0)),
                n => Err(format!("BITN value of length {n}")),
            }
        }
        0xE7 => text(read_chars(reader)?, utf16),
        0xA7 => text(read_chars(reader)?, latin1),
        other => Err(format!("unsupported parameter type 0x{other:02X}")),
    }
}

/// VARCHAR bytes under the Latin1 collation the stand-in announces.
fn latin1(bytes: &[u8]) -> Result<String, String> {
    Ok(bytes.iter().map(|&b| char::from(b)).collect())
}

fn read_intn(reader: &mut Reader) -> Result<Value, String> {
    let value = match reader.u8()? {
        0 => return Ok(Value::Null),
        1 => i64::from(reader.u8()?),
        2 => i64::from(reader.u16()? as i16),
        4 => i64::from(reader.u32()? as i32),
        8 => reader.u64()? as i64,
        n => return Err(format!("INTN value of length {n}")),
    };
    Ok(Value::Int(value))
}

/// The bytes of an NVARCHAR/VARCHAR value after its TYPE_INFO (max length, collation):
/// a u16 length (0xFFFF = NULL), or PLP when the max length is 0xFFFF. `None` is NULL.
fn read_chars(reader: &mut Reader) -> Result<Option<Vec<u8>>, String> {
    let max = reader.u16()?;
    reader.bytes(5)?;
    if max == 0xFFFF {
        return read_plp(reader);
    }
    match reader.u16()? {
        0xFFFF => Ok(None),
        len => Ok(Some(reader.bytes(usize::from(len))?.to_vec())),
    }
}

/// PLP: u64 total (all ones = NULL, ...FE = unknown), then u32-length chunks up to a 0 one.
fn read_plp(reader: &mut Reader) -> Result<Option<Vec<u8>>, String> {
    if reader.u64()? == u64::MAX {
        return Ok(None);
    }
    let mut out = Vec::new();
    loop {
        match reader.u32()? as usize {
            0 => return Ok(Some(out)),
            len => out.extend_from_slice(reader.bytes(len)?),
        }
    }
}

/// Token writer for the reply stream.
#[derive(Default)]
pub struct Tokens {
    pub buf: Vec<u8>,
}

const DONE_ERROR: u16 = 0x0002;
const DONE_COUNT: u16 = 0x0010;
pub const DONE_ATTN: u16 = 0x0020;

impl Tokens {
    fn b_varchar(&mut self, text: &str) {
        let units: Vec<u16> = text.encode_utf16().take(255).collect();
        self.buf.push(units.len() as u8);
        units
            .iter()
            .for_each(|u| self.buf.extend_from_slice(&u.to_le_bytes()));
    }

    fn us_varchar(&mut self, text: &str) {
        let units: Vec<u16> = text.encode_utf16().take(0xFFFF).collect();
        self.buf
            .extend_from_slice(&(units.len() as u16).to_le_bytes());
        units
            .iter()
            .for_each(|u| self.buf.extend_from_slice(&u.to_le_bytes()));
    }

    /// A token with a u16 length prefix: `body` writes the body.
    fn sized(&mut self, token: u8, body: impl FnOnce(&mut Tokens)) {
        let mut inner = Tokens::default();
        body(&mut inner);
        self.buf.push(token);
        self.buf
            .extend_from_slice(&(inner.buf.len() as u16).to_le_bytes());
        self.buf.extend(inner.buf);
    }

    pub fn login_ack(&mut self) {
        self.sized(0xAD, |t| {
            t.buf.push(1);
            t.buf.extend_from_slice(&TDS_74.to_be_bytes());
            t.b_varchar("Microsoft SQL Server");
            t.buf.extend_from_slice(&[16, 0, 0x07, 0xD0]);
        });
    }

    /// ENVCHANGE with B_VARCHAR new and old values (database, packet size).
    pub fn env_text(&mut self, ty: u8, new: &str, old: &str) {
        self.sized(0xE3, |t| {
            t.buf.push(ty);
            t.b_varchar(new);
            t.b_varchar(old);
        });
    }

    /// ENVCHANGE with B_VARBYTE values (transactions: descriptor in `new` or `old`).
    fn env_bytes(&mut self, ty: u8, new: &[u8], old: &[u8]) {
        self.sized(0xE3, |t| {
            t.buf.push(ty);
            for value in [new, old] {
                t.buf.push(value.len() as u8);
                t.buf.extend_from_slice(value);
            }
        });
    }

    pub fn error(&mut self, error: &SqlError) {
        self.sized(0xAA, |t| {
            t.buf.extend_from_slice(&error.number.to_le_bytes());
            t.buf.push(error.state);
            t.buf.push(error.class);
            t.us_varchar(&error.message);
            t.b_varchar(SERVER_NAME);
            t.b_varchar("");
            t.buf.extend_from_slice(&1u32.to_le_bytes());
        });
    }

    pub fn done(&mut self, status: u16, rows: u64) {
        self.buf.push(0xFD);
        self.buf.extend_from_slice(&status.to_le_bytes());
        self.buf.extend_from_slice(&0u16.to_le_bytes());
        self.buf.extend_from_slice(&rows.to_le_bytes());
    }

    pub fn done_error(&mut self) {
        self.done(DONE_ERROR, 0);
    }

    fn col_metadata(&mut self, columns: &[Column]) {
        self.buf.push(0x81);
        self.buf
            .extend_from_slice(&(columns.len() as u16).to_le_bytes());
        for column in columns {
            self.buf.extend_from_slice(&0u32.to_le_bytes());
            self.buf.extend_from_slice(&0x0001u16.to_le_bytes());
            match column.ty {
                ColType::Int => self.buf.extend_from_slice(&[0x26, 4]),
                ColType::NVarChar => {
                    self.buf.push(0xE7);
                    self.buf.extend_from_slice(&8000u16.to_le_bytes());
                    self.buf.extend_from_slice(&COLLATION);
                }
            }
            self.b_varchar(column.name);
        }
    }

    fn row(&mut self, columns: &[Column], values: &[Value]) {
        self.buf.push(0xD1);
        for (column, value) in columns.iter().zip(values) {
            match (column.ty, value) {
                (ColType::Int, Value::Int(v)) => {
                    self.buf.push(4);
                    self.buf.extend_from_slice(&(*v as i32).to_le_bytes());
                }
                (ColType::Int, _) => self.buf.push(0),
                (ColType::NVarChar, Value::Str(s)) => {
                    let units: Vec<u16> = s.encode_utf16().take(4000).collect();
                    self.buf
                        .extend_from_slice(&((units.len() * 2) as u16).to_le_bytes());
                    units
                        .iter()
                        .for_each(|u| self.buf.extend_from_slice(&u.to_le_bytes()));
                }
                (ColType::NVarChar, _) => self.buf.extend_from_slice(&0xFFFFu16.to_le_bytes()),
            }
        }
    }

    /// The tokens of a reply, ending with its DONE.
    pub fn reply(&mut self, reply: &Reply) {
        match reply {
            Reply::Rows { columns, rows } => {
                self.col_metadata(columns);
                rows.iter().for_each(|row| self.row(columns, row));
                self.done(DONE_COUNT, rows.len() as u64);
            }
            Reply::Done(rows) => self.done(DONE_COUNT, *rows),
            Reply::Error(error) => {
                self.error(error);
                self.done_error();
            }
            Reply::Database { new, old, reverted } => {
                self.env_text(1, new, old);
                if *reverted {
                    self.env_text(1, old, new);
                }
                self.done(0, 0);
            }
            Reply::BeginTx(desc) => self.tx(8, desc, &[]),
            Reply::CommitTx(desc) => self.tx(9, &[], desc),
            Reply::RollbackTx(desc) => self.tx(10, &[], desc),
        }
    }

    fn tx(&mut self, ty: u8, new: &[u8], old: &[u8]) {
        self.env_bytes(ty, new, old);
        self.done(0, 0);
    }
}
