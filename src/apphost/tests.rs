//! Tests of applicationHost.config reading and editing on two differently formatted files:
//! every edit touches only what it must, is idempotent, and conflicts are named.

use super::*;

const SPACES: &str = include_str!("../../tests/data/applicationHost-spaces-lf.config");
const TABS: &str = include_str!("../../tests/data/applicationHost-tabs-crlf.config");

fn lines_changed(before: &str, after: &str) -> (Vec<String>, Vec<String>) {
    let b: Vec<&str> = before.split('\n').collect();
    let a: Vec<&str> = after.split('\n').collect();
    let removed = b
        .iter()
        .filter(|l| !a.contains(l))
        .map(|l| l.to_string())
        .collect();
    let added = a
        .iter()
        .filter(|l| !b.contains(l))
        .map(|l| l.to_string())
        .collect();
    (removed, added)
}

fn edit(text: &str, edit: &AppHostEdit) -> String {
    String::from_utf8(apply_apphost_edit(text.as_bytes(), edit).unwrap()).unwrap()
}

fn ims_rename(old: &str, new: &str) -> AppHostEdit {
    AppHostEdit::RenameSite {
        from: "Blue Prism - IMS".into(),
        to: "Blue Prism - Authentication Server".into(),
        physical_path: Some((old.into(), new.into())),
    }
}

fn license_manager() -> NewSite {
    NewSite {
        name: "Blue Prism - License Manager".into(),
        app_pool: "Blue Prism - License Manager".into(),
        physical_path: r"C:\Program Files (x86)\Blue Prism\License Manager".into(),
        host: "licensemanager.local".into(),
        port: 443,
        start: true,
    }
}

#[test]
fn reads_sites_pools_bindings_and_identities() {
    let sites = apphost_sites(SPACES.as_bytes()).unwrap();
    let names: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Default Web Site",
            "Blue Prism - IMS",
            "Blue Prism - Hub",
            "Blue Prism - Email Sender"
        ]
    );
    let hub = &sites[2];
    assert_eq!(hub.app_pool, "Blue Prism - Hub");
    assert_eq!(
        hub.physical_path.as_deref(),
        Some(r"C:\Program Files (x86)\Blue Prism\Hub")
    );
    assert_eq!(hub.bindings[0].information, "*:443:hub.local");
    assert!(!sites[0].auto_start);
    assert!(
        sites[3].auto_start,
        "IIS starts a site without serverAutoStart"
    );
    let pools = app_pools(SPACES.as_bytes()).unwrap();
    let hub_pool = pools.iter().find(|p| p.name == "Blue Prism - Hub").unwrap();
    assert_eq!(hub_pool.user_name.as_deref(), Some(r"CORP\svc-hub"));
    let tab_sites = sites_of(TABS);
    assert_eq!(tab_sites[1].name, "R&D Tools");
    assert_eq!(tab_sites[1].physical_path.as_deref(), Some(r"D:\Apps\R&D"));
}

fn sites_of(text: &str) -> Vec<Site> {
    apphost_sites(text.as_bytes()).unwrap()
}

#[test]
fn rename_changes_only_the_name_and_the_path() {
    let e = ims_rename(
        r"C:\Program Files (x86)\Blue Prism\IMS",
        r"C:\Program Files (x86)\Blue Prism\Authentication Server",
    );
    let out = edit(SPACES, &e);
    let (removed, added) = lines_changed(SPACES, &out);
    assert_eq!(
        removed,
        [
            r#"            <site name="Blue Prism - IMS" id="2" serverAutoStart="true">"#,
            r#"                    <virtualDirectory path="/" physicalPath="C:\Program Files (x86)\Blue Prism\IMS" />"#,
        ]
    );
    assert_eq!(
        added,
        [
            r#"            <site name="Blue Prism - Authentication Server" id="2" serverAutoStart="true">"#,
            r#"                    <virtualDirectory path="/" physicalPath="C:\Program Files (x86)\Blue Prism\Authentication Server" />"#,
        ]
    );
    // Pool and binding stay (the guide: URL and app pool unchanged).
    assert!(out.contains(r#"<application path="/" applicationPool="Blue Prism - IMS">"#));
    assert!(out.contains("*:443:ims.local"));
    assert_eq!(edit(&out, &e), out, "idempotent");
}

#[test]
fn rename_on_a_one_line_site_in_a_crlf_file() {
    let e = ims_rename(
        r"D:\Apps\Blue Prism\IMS",
        r"D:\Apps\Blue Prism\Authentication Server",
    );
    let out = edit(TABS, &e);
    assert_eq!(
        out,
        TABS.replace(
            r#"<site name="Blue Prism - IMS""#,
            r#"<site name="Blue Prism - Authentication Server""#
        )
        .replace(
            r"D:\Apps\Blue Prism\IMS",
            r"D:\Apps\Blue Prism\Authentication Server"
        )
    );
}

#[test]
fn rename_refuses_a_hand_moved_path_and_a_taken_name() {
    let e = ims_rename(r"C:\Elsewhere\IMS", r"C:\Elsewhere\Authentication Server");
    assert!(matches!(
        apply_apphost_edit(SPACES.as_bytes(), &e),
        Err(AppHostError::PhysicalPath { .. })
    ));
    let taken = AppHostEdit::RenameSite {
        from: "Blue Prism - IMS".into(),
        to: "Blue Prism - Hub".into(),
        physical_path: None,
    };
    assert!(matches!(
        apply_apphost_edit(SPACES.as_bytes(), &taken),
        Err(AppHostError::NameTaken { .. })
    ));
    let missing = AppHostEdit::RenameSite {
        from: "Nope".into(),
        to: "Still nope".into(),
        physical_path: None,
    };
    assert!(matches!(
        apply_apphost_edit(SPACES.as_bytes(), &missing),
        Err(AppHostError::SiteNotFound(_))
    ));
}

#[test]
fn add_site_inserts_pool_and_site_like_their_neighbours() {
    let e = AppHostEdit::AddSite(license_manager());
    let out = edit(SPACES, &e);
    let pool = r#"<add name="Blue Prism - Email Sender" managedRuntimeVersion="" />"#;
    let expected = SPACES
        .replacen(
            pool,
            &format!(
                "{pool}\n            <add name=\"Blue Prism - License Manager\" managedRuntimeVersion=\"\" managedPipelineMode=\"Integrated\" />"
            ),
            1,
        )
        .replacen(
            "            </site>\n            <siteDefaults>",
            concat!(
                "            </site>\n",
                "            <site name=\"Blue Prism - License Manager\" id=\"5\" serverAutoStart=\"true\">\n",
                "                <application path=\"/\" applicationPool=\"Blue Prism - License Manager\">\n",
                "                    <virtualDirectory path=\"/\" physicalPath=\"C:\\Program Files (x86)\\Blue Prism\\License Manager\" />\n",
                "                </application>\n",
                "                <bindings>\n",
                "                    <binding protocol=\"https\" bindingInformation=\"*:443:licensemanager.local\" sslFlags=\"1\" />\n",
                "                </bindings>\n",
                "            </site>\n",
                "            <siteDefaults>",
            ),
            1,
        );
    assert_eq!(out, expected);
    let site = sites_of(&out)
        .into_iter()
        .find(|s| s.name == "Blue Prism - License Manager")
        .unwrap();
    assert_eq!(site.id, Some(5));
    assert_eq!(edit(&out, &e), out, "idempotent");
}

#[test]
fn add_site_in_a_tab_crlf_file_keeps_its_style() {
    let out = edit(TABS, &AppHostEdit::AddSite(license_manager()));
    assert!(
        out.contains("\r\n\t\t\t<site name=\"Blue Prism - License Manager\" id=\"10\""),
        "{out}"
    );
    assert!(
        !out.replace("\r\n", "").contains('\n'),
        "only CRLF line ends"
    );
    assert!(out.contains("\t\t\t<add name=\"Blue Prism - License Manager\" managedRuntimeVersion=\"\" startMode=\"AlwaysRunning\" />"));
    let names: Vec<String> = sites_of(&out).into_iter().map(|s| s.name).collect();
    assert_eq!(
        names.last().map(String::as_str),
        Some("Blue Prism - License Manager")
    );
}

#[test]
fn add_site_conflicting_with_an_existing_one_is_refused() {
    let mut site = license_manager();
    site.name = "Blue Prism - Hub".into();
    assert!(matches!(
        apply_apphost_edit(SPACES.as_bytes(), &AppHostEdit::AddSite(site)),
        Err(AppHostError::Conflict(_))
    ));
}

#[test]
fn names_with_xml_entities_are_escaped() {
    let mut site = license_manager();
    site.physical_path = r"C:\R&D\License Manager".into();
    let out = edit(SPACES, &AppHostEdit::AddSite(site));
    assert!(out.contains(r#"physicalPath="C:\R&amp;D\License Manager""#));
    let found = sites_of(&out)
        .into_iter()
        .find(|s| s.name == "Blue Prism - License Manager")
        .unwrap();
    assert_eq!(
        found.physical_path.as_deref(),
        Some(r"C:\R&D\License Manager")
    );
}

#[test]
fn validation_names_the_problem() {
    let mut site = license_manager();
    site.host = "LicenseManager.local".into();
    let err = validate_new_site(&site).unwrap_err().to_string();
    assert!(
        err.contains("uppercase") && err.contains("licensemanager.local"),
        "{err}"
    );
    let mut site = license_manager();
    site.port = 0;
    assert!(validate_new_site(&site).is_err());
    let mut site = license_manager();
    site.name = "Blue/Prism".into();
    assert!(validate_new_site(&site).is_err());
}

#[test]
fn broken_xml_is_an_error_not_a_panic() {
    for bad in [
        "<configuration><sites>",
        "not xml at all <<<",
        "",
        "<a b=\"1></a>",
    ] {
        let _ = apphost_sites(bad.as_bytes());
        let _ = apply_apphost_edit(bad.as_bytes(), &AppHostEdit::AddSite(license_manager()));
    }
    assert!(
        apply_apphost_edit(
            b"<configuration></configuration>",
            &AppHostEdit::AddSite(license_manager())
        )
        .is_err()
    );
}

#[test]
fn a_new_pool_can_run_as_an_existing_pool_with_its_encrypted_password_copied_as_written() {
    let e = AppHostEdit::AddSiteWithPoolIdentity {
        site: license_manager(),
        identity_from_pool: "Blue Prism - Hub".into(),
    };
    let out = edit(SPACES, &e);
    let pools = app_pools(out.as_bytes()).unwrap();
    let new = pools
        .iter()
        .find(|p| p.name == "Blue Prism - License Manager")
        .unwrap();
    assert_eq!(new.identity_type.as_deref(), Some("SpecificUser"));
    assert_eq!(new.user_name.as_deref(), Some(r"CORP\svc-hub"));
    assert!(new.has_password);
    // The encrypted text, byte for byte, now twice in the file; nothing else of the Hub
    // pool's element is copied (loadUserProfile, ...).
    assert_eq!(out.matches("[enc:IISCngProvider:AAAA:enc]").count(), 2);
    assert_eq!(edit(&out, &e), out, "applying it again changes nothing");
    let missing = AppHostEdit::AddSiteWithPoolIdentity {
        site: license_manager(),
        identity_from_pool: "No Such Pool".into(),
    };
    let err = apply_apphost_edit(SPACES.as_bytes(), &missing).unwrap_err();
    assert!(err.to_string().contains("No Such Pool"), "{err}");
}

#[test]
fn pool_principals_and_the_default_identity() {
    assert_eq!(
        default_pool_identity_type(SPACES.as_bytes()).unwrap(),
        "ApplicationPoolIdentity"
    );
    assert_eq!(
        pool_principal("Blue Prism - Hub", "ApplicationPoolIdentity", None).as_deref(),
        Some(r"IIS APPPOOL\Blue Prism - Hub")
    );
    assert_eq!(
        pool_principal("x", "SpecificUser", Some(r"CORP\svc-hub")).as_deref(),
        Some(r"CORP\svc-hub")
    );
    assert_eq!(
        pool_principal("x", "NetworkService", None).as_deref(),
        Some(r"NT AUTHORITY\NETWORK SERVICE")
    );
    assert_eq!(pool_principal("x", "SpecificUser", None), None);
    let pools = app_pools(SPACES.as_bytes()).unwrap();
    assert!(pools.iter().all(|p| p.auto_start));
}
