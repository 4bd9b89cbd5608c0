//! What the stand-in answers to one request, before it becomes TDS tokens: a result set, a
//! row count, a database or transaction change, or an error. Also owns the SQL Server error
//! catalogue (numbers, classes and message texts) the stand-in reproduces.

/// A value in a result row or a request parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    Int(i64),
    Bit(bool),
    Str(String),
}

impl Value {
    pub fn int(value: Option<i32>) -> Value {
        value.map_or(Value::Null, |v| Value::Int(v.into()))
    }
}

/// The column types the stand-in sends: INTN(4) and NVARCHAR(4000), both nullable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    Int,
    NVarChar,
}

#[derive(Clone, Debug)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
}

pub const fn int_col(name: &'static str) -> Column {
    Column {
        name,
        ty: ColType::Int,
    }
}

pub const fn text_col(name: &'static str) -> Column {
    Column {
        name,
        ty: ColType::NVarChar,
    }
}

/// A server error, as the ERROR token carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlError {
    pub number: u32,
    pub class: u8,
    pub state: u8,
    pub message: String,
}

/// The answer to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    Rows {
        columns: Vec<Column>,
        rows: Vec<Vec<Value>>,
    },
    /// No result set; DONE with this row count.
    Done(u64),
    Error(SqlError),
    Database {
        new: String,
        old: String,
    },
    BeginTx([u8; 8]),
    CommitTx([u8; 8]),
    RollbackTx([u8; 8]),
}

impl Reply {
    /// One row of one column.
    pub fn scalar(column: Column, value: Value) -> Reply {
        Reply::Rows {
            columns: vec![column],
            rows: vec![vec![value]],
        }
    }
}

impl From<SqlError> for Reply {
    fn from(error: SqlError) -> Reply {
        Reply::Error(error)
    }
}

fn error(number: u32, class: u8, message: String) -> SqlError {
    SqlError {
        number,
        class,
        state: 1,
        message,
    }
}

/// The error SQL Server gives for `number`, with `name` in the place its message names an
/// object; a generic message for numbers the catalogue does not hold.
pub fn known(number: u32, name: &str) -> SqlError {
    let (class, message) = match number {
        18456 => (14, format!("Login failed for user '{name}'.")),
        262 => (
            14,
            "CREATE DATABASE permission denied in database 'master'.".to_string(),
        ),
        1801 => (
            16,
            format!("Database '{name}' already exists. Choose a different database name."),
        ),
        3701 => (
            11,
            format!(
                "Cannot drop the database '{name}', because it does not exist or you do not \
                 have permission."
            ),
        ),
        911 => (
            16,
            format!(
                "Database '{name}' does not exist. Make sure that the name is entered correctly."
            ),
        ),
        15025 => (16, format!("The server principal '{name}' already exists.")),
        15023 => (
            16,
            format!("User, group, or role '{name}' already exists in the current database."),
        ),
        15007 => (
            16,
            format!("'{name}' is not a valid login or you do not have permission."),
        ),
        2627 => (
            14,
            format!(
                "Violation of PRIMARY KEY constraint 'PK___hubup_migrations'. Cannot insert \
                 duplicate key in object 'dbo.__hubup_migrations'. The duplicate key value is \
                 ({name})."
            ),
        ),
        208 => (16, format!("Invalid object name '{name}'.")),
        15233 => (
            16,
            format!(
                "Property cannot be added. Property '{name}' already exists for 'object \
                 specified'."
            ),
        ),
        137 => (15, format!("Must declare the scalar variable \"{name}\".")),
        226 => (
            16,
            format!("{name} statement not allowed within multi-statement transaction."),
        ),
        2714 => (
            16,
            format!("There is already an object named '{name}' in the database."),
        ),
        3702 => (
            16,
            format!("Cannot drop database \"{name}\" because it is currently in use."),
        ),
        3708 => (
            16,
            format!("Cannot drop the database '{name}' because it is a system database."),
        ),
        3902 => (
            16,
            "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.".to_string(),
        ),
        3903 => (
            16,
            "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.".to_string(),
        ),
        1223 => (
            16,
            format!(
                "Cannot release the application lock (Database Principal: 'public', Resource: \
                 '{name}') because it is not currently held."
            ),
        ),
        4060 => (
            11,
            format!("Cannot open database \"{name}\" requested by the login. The login failed."),
        ),
        515 => (
            16,
            format!(
                "Cannot insert the value NULL into column '{name}', table \
                 'dbo.__hubup_migrations'; column does not allow nulls. INSERT fails."
            ),
        ),
        1205 => (
            13,
            "Transaction (Process ID 51) was deadlocked on lock resources with another process \
             and has been chosen as the deadlock victim. Rerun the transaction."
                .to_string(),
        ),
        103 => (
            15,
            format!("The identifier that starts with '{name}' is too long. Maximum length is 128."),
        ),
        1038 => (
            15,
            "An object or column name is missing or empty. For SELECT INTO statements, verify \
             each column has a name. For other statements, look for empty alias names. Aliases \
             defined as \"\" or [] are not allowed. Change the alias to a valid name."
                .to_string(),
        ),
        _ => (16, format!("TDS stand-in: injected error {number}.")),
    };
    error(number, class, message)
}

/// Error 15151, whose message depends on what could not be found or altered.
pub fn not_found(verb_and_kind: &str, name: &str) -> SqlError {
    error(
        15151,
        16,
        format!(
            "Cannot {verb_and_kind} '{name}', because it does not exist or you do not have \
             permission."
        ),
    )
}

/// Error 50000 for a statement outside the contract.
pub fn not_understood(text: &str) -> SqlError {
    let head: String = text.chars().take(200).collect();
    error(
        50000,
        16,
        format!("TDS stand-in: statement not understood: {head}"),
    )
}
