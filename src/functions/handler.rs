//! How a Rust function becomes callable by the engine: its first argument is its params (deserialised from the
//! job's JSON params), each further argument is taken from the job by its type, as actix-web extractors are:
//! [`State<T>`] for state the application handed to the registry, [`JobContext`] for the job itself.
use std::any::{Any, TypeId, type_name};
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::JobContext;
use crate::domain::Outcome;

/// Shared state by type: what [`State<T>`] arguments are filled from.
#[derive(Default)]
/// Opaque outside this crate.
pub struct StateMap(HashMap<TypeId, Arc<dyn Any + Send + Sync>>);

impl StateMap {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: Arc<T>) {
        self.0.insert(TypeId::of::<T>(), value);
    }

    fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.0.get(&TypeId::of::<T>()).cloned().and_then(|v| v.downcast::<T>().ok())
    }
}

/// Shared state of type `T` (a pool, a client) that the application gave the registry with
/// [`super::RegistryBuilder::state`]; a function asks for it by naming `State<T>` in its signature.
pub struct State<T>(Arc<T>);

impl<T> State<T> {
    pub fn into_inner(self) -> Arc<T> {
        self.0
    }
}

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// An argument a function takes from its job.
pub trait FromJob: Sized {
    /// The value for this call; the message says what is missing.
    fn from_job(ctx: &JobContext, state: &StateMap) -> Result<Self, String>;
}

impl<T: Send + Sync + 'static> FromJob for State<T> {
    fn from_job(_: &JobContext, state: &StateMap) -> Result<Self, String> {
        state.get::<T>().map(State).ok_or_else(|| {
            format!("the function asks for State<{}>, which was not given to the registry", type_name::<T>())
        })
    }
}

impl FromJob for JobContext {
    fn from_job(ctx: &JobContext, _: &StateMap) -> Result<Self, String> {
        Ok(ctx.clone())
    }
}

/// Why a call did not return a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// `error` or `panic`.
    pub outcome: Outcome,
    /// The error's type (the Rust type a function returned, `params` for params it could not take, `panic`).
    pub kind: String,
    pub message: String,
}

impl Failure {
    pub(crate) fn error<E: Display>(e: E) -> Failure {
        let kind = type_name::<E>().rsplit("::").next().unwrap_or("error").to_string();
        Failure { outcome: Outcome::Error, kind, message: e.to_string() }
    }

    pub(crate) fn named(kind: &str, message: String) -> Failure {
        Failure { outcome: Outcome::Error, kind: kind.to_string(), message }
    }

    pub(crate) fn panic(message: String) -> Failure {
        Failure { outcome: Outcome::Panic, kind: "panic".to_string(), message }
    }
}

pub type Called = Result<Value, Failure>;
pub type CallFuture = Pin<Box<dyn Future<Output = Called> + Send>>;

/// A call ready to run: a future for the async workers, or a closure for the blocking pool.
pub(crate) enum Invocation {
    Async(CallFuture),
    Blocking(Box<dyn FnOnce() -> Called + Send>),
}

fn returned<R: Serialize, E: Display>(r: Result<R, E>) -> Called {
    match r {
        Ok(value) => {
            serde_json::to_value(value).map_err(|e| Failure::named("result", format!("the result is not JSON: {e}")))
        }
        Err(e) => Err(Failure::error(e)),
    }
}

/// The arguments after the params, taken from the job together.
pub trait FromJobArgs: Sized + Send + 'static {
    fn from_job_args(ctx: &JobContext, state: &StateMap) -> Result<Self, String>;
}

/// An `async fn(params, args…) -> Result<R, E>` with `R: Serialize` and `E: Display`.
pub trait AsyncFunction<P, Args>: Send + Sync + 'static {
    fn call(&self, params: P, args: Args) -> CallFuture;
}

/// A `fn(params, args…) -> Result<R, E>` run on the blocking pool, off the async workers.
pub trait BlockingFunction<P, Args>: Send + Sync + 'static {
    fn call(&self, params: P, args: Args) -> Called;
}

macro_rules! arities {
    ($($A:ident),*) => {
        impl<$($A: FromJob + Send + 'static,)*> FromJobArgs for ($($A,)*) {
            #[allow(unused_variables)]
            fn from_job_args(ctx: &JobContext, state: &StateMap) -> Result<Self, String> {
                Ok(($($A::from_job(ctx, state)?,)*))
            }
        }

        impl<Func, Fut, P, R, E, $($A,)*> AsyncFunction<P, ($($A,)*)> for Func
        where
            Func: Fn(P, $($A,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<R, E>> + Send + 'static,
            R: Serialize,
            E: Display,
        {
            #[allow(non_snake_case)]
            fn call(&self, params: P, ($($A,)*): ($($A,)*)) -> CallFuture {
                let fut = (self)(params, $($A,)*);
                Box::pin(async move { returned(fut.await) })
            }
        }

        impl<Func, P, R, E, $($A,)*> BlockingFunction<P, ($($A,)*)> for Func
        where
            Func: Fn(P, $($A,)*) -> Result<R, E> + Send + Sync + 'static,
            R: Serialize,
            E: Display,
        {
            #[allow(non_snake_case)]
            fn call(&self, params: P, ($($A,)*): ($($A,)*)) -> Called {
                returned((self)(params, $($A,)*))
            }
        }
    };
}

arities!();
arities!(A1);
arities!(A1, A2);
arities!(A1, A2, A3);
arities!(A1, A2, A3, A4);
