-- Blue Prism Decision 4.5: models and the decisions they made.
CREATE TABLE [dbo].[Model] (
    [Id]          UNIQUEIDENTIFIER NOT NULL CONSTRAINT [PK_Model] PRIMARY KEY,
    [Name]        NVARCHAR(200)    NOT NULL,
    [Version]     INT              NOT NULL,
    [TrainedAt]   DATETIME2        NULL
);
GO
CREATE TABLE [dbo].[Decision] (
    [Id]          BIGINT IDENTITY(1,1) NOT NULL CONSTRAINT [PK_Decision] PRIMARY KEY,
    [ModelId]     UNIQUEIDENTIFIER NOT NULL CONSTRAINT [FK_Decision_Model] REFERENCES [dbo].[Model] ([Id]),
    [Input]       NVARCHAR(MAX)    NOT NULL,
    [Outcome]     NVARCHAR(MAX)    NOT NULL,
    [DecidedAt]   DATETIME2        NOT NULL CONSTRAINT [DF_Decision_DecidedAt] DEFAULT (SYSUTCDATETIME())
);
GO
