use reactant::prelude::*;

#[derive(Default)]
pub struct Town {
    news: Vec<String>,
}

#[actor]
impl Town {
    pub fn tell(&mut self, news: String) {
        self.news.push(news);
    }
}

fn main() {}
