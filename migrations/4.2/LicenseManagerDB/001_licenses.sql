-- License Manager 4.2: licenses, their assignment to environments, and the procedures the
-- License Manager site calls (the guide grants EXECUTE when db_owner is not used).
CREATE TABLE [dbo].[License] (
    [Id]             UNIQUEIDENTIFIER NOT NULL CONSTRAINT [PK_License] PRIMARY KEY,
    [Name]           NVARCHAR(200)    NOT NULL,
    [LicenseKey]     NVARCHAR(MAX)    NOT NULL,
    [ValidFrom]      DATETIME2        NOT NULL,
    [ValidTo]        DATETIME2        NULL,
    [IsActive]       BIT              NOT NULL CONSTRAINT [DF_License_IsActive] DEFAULT (1),
    [CreatedAt]      DATETIME2        NOT NULL CONSTRAINT [DF_License_CreatedAt] DEFAULT (SYSUTCDATETIME())
);
GO
CREATE TABLE [dbo].[LicenseAssignment] (
    [Id]             INT IDENTITY(1,1) NOT NULL CONSTRAINT [PK_LicenseAssignment] PRIMARY KEY,
    [LicenseId]      UNIQUEIDENTIFIER NOT NULL CONSTRAINT [FK_LicenseAssignment_License] REFERENCES [dbo].[License] ([Id]),
    [EnvironmentId]  UNIQUEIDENTIFIER NOT NULL,
    [AssignedAt]     DATETIME2        NOT NULL CONSTRAINT [DF_LicenseAssignment_AssignedAt] DEFAULT (SYSUTCDATETIME())
);
GO
CREATE INDEX [IX_LicenseAssignment_EnvironmentId] ON [dbo].[LicenseAssignment] ([EnvironmentId]);
GO
