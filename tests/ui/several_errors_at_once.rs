use reactant::prelude::*;

#[derive(Default)]
pub struct Inbox {
    mails: Vec<String>,
}

#[actor]
impl Inbox {
    pub async fn receive(&mut self, mail: String) {
        self.mails.push(mail);
    }

    pub fn first(&self, prefix: &str) -> Option<&String> {
        self.mails.iter().find(|mail| mail.starts_with(prefix))
    }

    pub fn clear(self) {}

    pub fn ask(&self) -> usize {
        self.mails.len()
    }
}

fn main() {}
