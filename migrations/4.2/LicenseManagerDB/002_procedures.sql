-- Stored procedures the License Manager site executes.
CREATE PROCEDURE [dbo].[usp_GetActiveLicenses]
AS
BEGIN
    SET NOCOUNT ON;
    SELECT [Id], [Name], [ValidFrom], [ValidTo]
    FROM [dbo].[License]
    WHERE [IsActive] = 1 AND ([ValidTo] IS NULL OR [ValidTo] > SYSUTCDATETIME());
END
GO
CREATE PROCEDURE [dbo].[usp_AssignLicense]
    @LicenseId UNIQUEIDENTIFIER,
    @EnvironmentId UNIQUEIDENTIFIER
AS
BEGIN
    SET NOCOUNT ON;
    INSERT INTO [dbo].[LicenseAssignment] ([LicenseId], [EnvironmentId]) VALUES (@LicenseId, @EnvironmentId);
END
GO
