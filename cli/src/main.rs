//! The `heirloom` operator command (placeholder until the CLI issue lands).

fn main() {
    eprintln!("heirloom: the command line is not available yet; see README.md");
    std::process::exit(2);
}
