-- IADA 4.2 (Interact): queued work items and their state.
CREATE TABLE [dbo].[WorkItem] (
    [Id]          UNIQUEIDENTIFIER NOT NULL CONSTRAINT [PK_WorkItem] PRIMARY KEY,
    [FormId]      UNIQUEIDENTIFIER NOT NULL,
    [State]       TINYINT          NOT NULL,
    [Payload]     NVARCHAR(MAX)    NULL,
    [UpdatedAt]   DATETIME2        NOT NULL CONSTRAINT [DF_WorkItem_UpdatedAt] DEFAULT (SYSUTCDATETIME())
);
GO
CREATE INDEX [IX_WorkItem_State] ON [dbo].[WorkItem] ([State]) INCLUDE ([FormId]);
GO
