//! The `tasks` table.
use entity::task;
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder, QuerySelect, SqlErr};

use super::convert::{task_from_row, task_to_row};
use super::{Conns, Page, PageRequest, StoreError, StoreResult};
use crate::domain::{Task, TaskId};

pub struct TasksStore<'a> {
    db: Conns<'a>,
}

fn name_conflict(err: sea_orm::DbErr) -> StoreError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::NameTaken,
        _ => err.into(),
    }
}

impl<'a> TasksStore<'a> {
    pub(super) fn new(db: Conns<'a>) -> Self {
        Self { db }
    }

    pub async fn insert(&self, task: &Task) -> StoreResult<()> {
        self.db.room_for_new_work()?;
        let res = task::Entity::insert(task_to_row(task)).exec_without_returning(self.db.write).await;
        self.db.wrote(res.map_err(name_conflict))?;
        Ok(())
    }

    pub async fn get(&self, id: TaskId) -> StoreResult<Task> {
        let row = task::Entity::find_by_id(id).one(self.db.read).await?.ok_or(StoreError::NotFound)?;
        task_from_row(row)
    }

    /// Writes every field of `task` over the stored row.
    pub async fn update(&self, task: &Task) -> StoreResult<()> {
        self.db.room_for_new_work()?;
        let res = task::Entity::update_many()
            .set(task_to_row(task))
            .filter(task::Column::Id.eq(task.id))
            .exec(self.db.write)
            .await;
        let res = self.db.wrote(res.map_err(name_conflict))?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub async fn delete(&self, id: TaskId) -> StoreResult<()> {
        let res = self.db.wrote(task::Entity::delete_by_id(id).exec(self.db.write).await)?;
        if res.rows_affected == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// All tasks, oldest first.
    pub async fn all(&self) -> StoreResult<Vec<Task>> {
        let rows = task::Entity::find().order_by_asc(task::Column::Id).all(self.db.read).await?;
        rows.into_iter().map(task_from_row).collect()
    }

    pub async fn page(&self, req: PageRequest) -> StoreResult<Page<Task>> {
        let total = task::Entity::find().count(self.db.read).await?;
        let rows = task::Entity::find()
            .order_by_asc(task::Column::Id)
            .offset((req.page - 1) * req.size)
            .limit(req.size)
            .all(self.db.read)
            .await?;
        Ok(Page { items: rows.into_iter().map(task_from_row).collect::<Result<_, _>>()?, total })
    }
}

use sea_orm::{ColumnTrait, QueryFilter};
