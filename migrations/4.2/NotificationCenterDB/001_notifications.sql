-- Notification Center 4.2: notifications and who has read them.
CREATE TABLE [dbo].[Notification] (
    [Id]          BIGINT IDENTITY(1,1) NOT NULL CONSTRAINT [PK_Notification] PRIMARY KEY,
    [Source]      NVARCHAR(100)  NOT NULL,
    [Title]       NVARCHAR(400)  NOT NULL,
    [Body]        NVARCHAR(MAX)  NULL,
    [CreatedAt]   DATETIME2      NOT NULL CONSTRAINT [DF_Notification_CreatedAt] DEFAULT (SYSUTCDATETIME())
);
GO
CREATE TABLE [dbo].[NotificationRecipient] (
    [NotificationId] BIGINT           NOT NULL CONSTRAINT [FK_NotificationRecipient_Notification] REFERENCES [dbo].[Notification] ([Id]),
    [UserId]         UNIQUEIDENTIFIER NOT NULL,
    [ReadAt]         DATETIME2        NULL,
    CONSTRAINT [PK_NotificationRecipient] PRIMARY KEY ([NotificationId], [UserId])
);
GO
