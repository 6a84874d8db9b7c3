//! A strategy whose `describe()` panics (after saying so on stderr), for
//! the registry's tests: it is refused at upload with its log tail.

use dun_strategy::{Case, Info, Plan, Strategy};

pub struct FaultyDescribe;

impl Strategy for FaultyDescribe {
    fn describe() -> Info {
        eprintln!("faulty-describe: about to fail");
        panic!("describe is broken");
    }

    fn decide(_: Case) -> Result<Plan, String> {
        Ok(Plan::nothing("never asked"))
    }
}

#[cfg(target_arch = "wasm32")]
dun_strategy::export!(FaultyDescribe);
