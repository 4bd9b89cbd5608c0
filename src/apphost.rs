//! IIS's `applicationHost.config`: reading the sites, app pools and bindings hubup cares about,
//! and making minimal edits to it (rename a site and its physical path, add a site with its app
//! pool and HTTPS binding) that leave every other byte of the file as it was.
//!
//! The editing logic is pure (bytes in, bytes out) so the planner can compute the digest of the
//! result without writing anything.

use serde::{Deserialize, Serialize};

/// One minimal edit of `applicationHost.config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Edit {
    /// Rename a site (`<site name=...>`) and, when its folder is renamed too, the physical path
    /// of its root application. The app pool, bindings and id stay as they are.
    RenameSite {
        from: String,
        to: String,
        /// Old and new physical path (Windows form, as written in the file), if the folder moves.
        physical_path: Option<(String, String)>,
    },
    /// Add a site, its application pool and its HTTPS binding.
    AddSite(NewSite),
}

/// Everything a new site needs, as the vendor wizard asks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSite {
    pub name: String,
    pub app_pool: String,
    /// Physical path in Windows form, e.g. `C:\Program Files (x86)\Blue Prism\License Manager`.
    pub physical_path: String,
    /// Lowercase host name for the SNI binding.
    pub host: String,
    pub port: u16,
    /// Start the site automatically (the wizard's "Start Website").
    pub start: bool,
}
