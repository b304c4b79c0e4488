//! Users, roles, role membership, system privileges and cluster settings in the catalog's
//! system tables (`users`, `role_members`, `system_privileges`, `settings`), through the
//! caller's transaction. A corrupt record is an internal error (XX000).

use super::{Catalog, dec, key, tables};
use crate::kv::Txn;
use crate::sql::error::{Result, SqlError};
use crate::storage::keys;
use crate::storage::records::encode;
use serde::{Deserialize, Serialize};

/// A SQL user or role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Name.
    pub name: String,
    /// SCRAM-SHA-256 verifier (`SCRAM-SHA-256$<iter>:<salt>$<stored>:<server>`), never a password.
    pub scram_verifier: Option<String>,
    /// May log in.
    pub login: bool,
    /// Is a role (CREATE ROLE) rather than a user.
    pub is_role: bool,
    /// Role options shown by SHOW USERS.
    pub options: Vec<String>,
}

impl Catalog {
    /// A user.
    pub async fn user(&self, txn: &mut Txn, name: &str) -> Result<Option<UserRecord>> {
        match txn.get(&key(self.tenant, tables::USERS, &(name,))?).await? {
            Some(v) => Ok(Some(dec(&v)?)),
            None => Ok(None),
        }
    }

    /// Writes a user.
    pub fn put_user(&self, txn: &mut Txn, u: &UserRecord) -> Result<()> {
        txn.put(
            &key(self.tenant, tables::USERS, &(u.name.as_str(),))?,
            &encode(u),
        )?;
        Ok(())
    }

    /// Deletes a user with its memberships and privileges.
    pub async fn delete_user(&self, txn: &mut Txn, name: &str) -> Result<()> {
        txn.delete(&key(self.tenant, tables::USERS, &(name,))?)?;
        txn.delete(&key(self.tenant, tables::SYSTEM_PRIVILEGES, &(name,))?)?;
        for (role, member) in self.role_members(txn).await? {
            if role == name || member == name {
                txn.delete(&key(
                    self.tenant,
                    tables::ROLE_MEMBERS,
                    &(role.as_str(), member.as_str()),
                )?)?;
            }
        }
        Ok(())
    }

    /// Every user, by name.
    pub async fn users(&self, txn: &mut Txn) -> Result<Vec<UserRecord>> {
        txn.scan(&self.table_span(tables::USERS), usize::MAX)
            .await?
            .iter()
            .map(|(_, v)| dec(v))
            .collect()
    }

    /// (role, member) pairs.
    pub async fn role_members(&self, txn: &mut Txn) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (k, _) in txn
            .scan(&self.table_span(tables::ROLE_MEMBERS), usize::MAX)
            .await?
        {
            let (r, m): (String, String) =
                keys::decode_index_key(&k).map_err(|e| SqlError::internal(e.to_string()))?;
            out.push((r, m));
        }
        Ok(out)
    }

    /// Grants `role` to `member`.
    pub fn add_role_member(
        &self,
        txn: &mut Txn,
        role: &str,
        member: &str,
        admin: bool,
    ) -> Result<()> {
        txn.put(
            &key(self.tenant, tables::ROLE_MEMBERS, &(role, member))?,
            &encode(&admin),
        )?;
        Ok(())
    }

    /// Revokes `role` from `member`.
    pub fn remove_role_member(&self, txn: &mut Txn, role: &str, member: &str) -> Result<()> {
        txn.delete(&key(self.tenant, tables::ROLE_MEMBERS, &(role, member))?)?;
        Ok(())
    }

    /// The roles `user` belongs to, transitively (including itself).
    pub async fn roles_of(&self, txn: &mut Txn, user: &str) -> Result<Vec<String>> {
        let members = self.role_members(txn).await?;
        let mut out = vec![user.to_string()];
        let mut i = 0;
        while i < out.len() {
            let cur = out[i].clone();
            for (r, m) in &members {
                if *m == cur && !out.contains(r) {
                    out.push(r.clone());
                }
            }
            i += 1;
        }
        Ok(out)
    }

    /// A user's own system privileges (names).
    pub async fn system_privileges(&self, txn: &mut Txn, user: &str) -> Result<Vec<String>> {
        match txn
            .get(&key(self.tenant, tables::SYSTEM_PRIVILEGES, &(user,))?)
            .await?
        {
            Some(v) => dec(&v),
            None => Ok(Vec::new()),
        }
    }

    /// Replaces a user's system privileges.
    pub fn set_system_privileges(&self, txn: &mut Txn, user: &str, privs: &[String]) -> Result<()> {
        let k = key(self.tenant, tables::SYSTEM_PRIVILEGES, &(user,))?;
        if privs.is_empty() {
            txn.delete(&k)?;
        } else {
            txn.put(&k, &encode(&privs.to_vec()))?;
        }
        Ok(())
    }

    /// All (user, privileges) pairs.
    pub async fn all_system_privileges(&self, txn: &mut Txn) -> Result<Vec<(String, Vec<String>)>> {
        let mut out = Vec::new();
        for (k, v) in txn
            .scan(&self.table_span(tables::SYSTEM_PRIVILEGES), usize::MAX)
            .await?
        {
            let (u,): (String,) =
                keys::decode_index_key(&k).map_err(|e| SqlError::internal(e.to_string()))?;
            out.push((u, dec(&v)?));
        }
        Ok(out)
    }

    /// A stored cluster setting value.
    pub async fn setting(&self, txn: &mut Txn, name: &str) -> Result<Option<String>> {
        match txn
            .get(&key(self.tenant, tables::SETTINGS, &(name,))?)
            .await?
        {
            Some(v) => Ok(Some(dec(&v)?)),
            None => Ok(None),
        }
    }

    /// Stores (or with `None` resets) a cluster setting.
    pub fn put_setting(&self, txn: &mut Txn, name: &str, value: Option<&str>) -> Result<()> {
        let k = key(self.tenant, tables::SETTINGS, &(name,))?;
        match value {
            Some(v) => txn.put(&k, &encode(&v.to_string()))?,
            None => txn.delete(&k)?,
        }
        Ok(())
    }

    /// Every stored setting.
    pub async fn settings(&self, txn: &mut Txn) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for (k, v) in txn
            .scan(&self.table_span(tables::SETTINGS), usize::MAX)
            .await?
        {
            let (n,): (String,) =
                keys::decode_index_key(&k).map_err(|e| SqlError::internal(e.to_string()))?;
            out.push((n, dec(&v)?));
        }
        Ok(out)
    }
}
