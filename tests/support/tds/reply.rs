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
    /// The current database changed; `reverted`: and changed back (USE inside an RPC).
    Database {
        new: String,
        old: String,
        reverted: bool,
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

/// SQL Server's errors the stand-in gives: number, class, message (`{}` is the name).
// One line per error reads as the table it is.
#[rustfmt::skip]
const CATALOGUE: &[(u32, u8, &str)] = &[
    (18456, 14, "Login failed for user '{}'."),
    (262, 14, "CREATE DATABASE permission denied in database 'master'."),
    (1801, 16, "Database '{}' already exists. Choose a different database name."),
    (3701, 11, "Cannot drop the database '{}', because it does not exist or you do not have permission."),
    (911, 16, "Database '{}' does not exist. Make sure that the name is entered correctly."),
    (15025, 16, "The server principal '{}' already exists."),
    (15023, 16, "User, group, or role '{}' already exists in the current database."),
    (15007, 16, "'{}' is not a valid login or you do not have permission."),
    (2627, 14, "Violation of PRIMARY KEY constraint 'PK___hubup_migrations'. Cannot insert duplicate key in object 'dbo.__hubup_migrations'. The duplicate key value is ({})."),
    (208, 16, "Invalid object name '{}'."),
    (15233, 16, "Property cannot be added. Property '{}' already exists for 'object specified'."),
    (137, 15, "Must declare the scalar variable \"{}\"."),
    (226, 16, "{} statement not allowed within multi-statement transaction."),
    (2714, 16, "There is already an object named '{}' in the database."),
    (3702, 16, "Cannot drop database \"{}\" because it is currently in use."),
    (3708, 16, "Cannot drop the database '{}' because it is a system database."),
    (3902, 16, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION."),
    (3903, 16, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION."),
    (1223, 16, "Cannot release the application lock (Database Principal: 'public', Resource: '{}') because it is not currently held."),
    (4060, 11, "Cannot open database \"{}\" requested by the login. The login failed."),
    (515, 16, "Cannot insert the value NULL into column '{}', table 'dbo.__hubup_migrations'; column does not allow nulls. INSERT fails."),
    (1205, 13, "Transaction (Process ID 51) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction."),
    (103, 15, "The identifier that starts with '{}' is too long. Maximum length is 128."),
    (15247, 16, "User does not have permission to perform this action."),
    (3201, 16, "Cannot open backup device '{}'. Operating system error 3(The system cannot find the path specified.)."),
    (3021, 16, "Cannot perform a backup or restore operation within a transaction."),
    (15063, 16, "The login already has an account under a different user name."),
    (102, 15, "Incorrect syntax near '{}'."),
    (241, 16, "Conversion failed when converting date and/or time from character string."),
    (1038, 15, "An object or column name is missing or empty. For SELECT INTO statements, verify each column has a name. For other statements, look for empty alias names. Aliases defined as \"\" or [] are not allowed. Change the alias to a valid name."),
];

/// The error SQL Server gives for `number`, with `name` where its message names an object;
/// a generic message for numbers the catalogue does not hold.
pub fn known(number: u32, name: &str) -> SqlError {
    match CATALOGUE.iter().find(|(n, _, _)| *n == number) {
        Some((_, class, template)) => error(number, *class, template.replace("{}", name)),
        None => error(
            number,
            16,
            format!("TDS stand-in: injected error {number}."),
        ),
    }
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

/// Error 262 for a statement other than CREATE DATABASE (the catalogue's 262 is that one's).
pub fn permission_denied(permission: &str, database: &str) -> SqlError {
    error(
        262,
        14,
        format!("{permission} permission denied in database '{database}'."),
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
