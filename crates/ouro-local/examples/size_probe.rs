//! A minimal program using ouro-local, built with and without the feature `local` by
//! `bench/local-model` to measure the binary size llama.cpp adds.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        println!("usage: size_probe MODEL.gguf");
        return;
    };
    #[cfg(feature = "local")]
    {
        let options = ouro_local::engine::LocalOptions::default();
        match ouro_local::engine::LocalModel::load(std::path::Path::new(&path), options) {
            Ok(model) => println!("{model:?}"),
            Err(err) => println!("{err}"),
        }
    }
    #[cfg(not(feature = "local"))]
    match ouro_local::gguf::read_file(std::path::Path::new(&path)) {
        Ok(metadata) => println!("{:?}", metadata.name()),
        Err(err) => println!("{err}"),
    }
}
