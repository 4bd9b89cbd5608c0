-- Email Service 4.3: the outgoing mail queue and delivery attempts.
CREATE TABLE [dbo].[Email] (
    [Id]          BIGINT IDENTITY(1,1) NOT NULL CONSTRAINT [PK_Email] PRIMARY KEY,
    [Recipient]   NVARCHAR(320)  NOT NULL,
    [Subject]     NVARCHAR(400)  NOT NULL,
    [Body]        NVARCHAR(MAX)  NOT NULL,
    [QueuedAt]    DATETIME2      NOT NULL CONSTRAINT [DF_Email_QueuedAt] DEFAULT (SYSUTCDATETIME()),
    [SentAt]      DATETIME2      NULL
);
GO
CREATE TABLE [dbo].[EmailAttempt] (
    [Id]          BIGINT IDENTITY(1,1) NOT NULL CONSTRAINT [PK_EmailAttempt] PRIMARY KEY,
    [EmailId]     BIGINT         NOT NULL CONSTRAINT [FK_EmailAttempt_Email] REFERENCES [dbo].[Email] ([Id]),
    [AttemptedAt] DATETIME2      NOT NULL,
    [Error]       NVARCHAR(MAX)  NULL
);
GO
