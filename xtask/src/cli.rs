//! The command line: eight commands with a handful of flags, parsed by hand so xtask compiles in
//! seconds on a fresh machine.

use crate::deploy::{self, CspOptions, DeployOptions};
use crate::sizes;
use crate::test::{STAGE_NAMES, Selection};

pub const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  setup [--browser]     install what is missing: the wasm32-unknown-unknown target, trunk,
                        wasm-bindgen-cli (the version in Cargo.lock) and wasm-opt;
                        --browser also installs chromium, chromedriver and nginx
  dev                   run the sandbox on 127.0.0.1:5001 and `trunk serve` on
                        http://localhost:5000 until Ctrl-C
  test                  set up, then run every stage CI runs, in order, stopping at the first
                        failure: fmt, clippy-host, clippy-wasm, unit, sim, sandbox, wasm,
                        e2e
    --from <stage>      start at <stage> and run the ones after it
    --only <stage>      run just <stage>
  bench [args...]       set up (and install @ringcentral/sdk with npm for the bench's SDK page,
                        on first use), then run the e2e bench binary with <args> (--help: what
                        it measures), then `sizes`
  sizes [--against <file>] [--save <file>] [--top <n>]
                        build the wasm modules with names, optimise them as trunk does and print
                        their bytes per crate (and the <n> biggest functions, default 10);
                        --save writes the figures, --against prints the change from saved ones
  sim [args...]         run the deterministic simulator with <args>: seeds of tabs, a browser,
                        a network and a RingCentral-like server, every invariant checked after
                        every step (--seed N, --steps N, --seconds N, --plant NAME; --help)
  deploy --dist <dir> --url <public URL> [--nginx-out <file> [--nginx-listen <addr>]
         [--nginx-root <dir>]]
                        check <dir>/config.json (a `trunk build --release` output) for serving at
                        <public URL> (e.g. https://example.com/ or https://me.github.io/rc-pkce/),
                        write <dir>/_headers and <dir>/_redirects (Netlify, Cloudflare Pages) and,
                        with --nginx-out, an nginx server block (listen default 80; root default
                        <dir> less the URL's base path); with `discovery`, it says which
                        origins the CSP assumes the document's endpoints are on
  csp <config.json> [--url <public URL>]
                        print the Content-Security-Policy header for that config
                        (default URL http://localhost:5000/); with `discovery`, a note on
                        stderr names the origins it assumes the document's endpoints are on
  hash-first-load       trunk's post-build hook (Trunk.toml): give the first-load modules
                        content-hashed names in $TRUNK_STAGING_DIR
  help                  print this text";

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Setup { browser: bool },
    Dev,
    Test(Selection),
    Bench { args: Vec<String> },
    Sizes(sizes::Options),
    Sim { args: Vec<String> },
    Deploy(DeployOptions),
    Csp(CspOptions),
    HashFirstLoad,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// The user asked for the usage text: print it and succeed.
    Help,
    /// Print the message (if any) and the usage text, and exit 2.
    Invalid(Option<String>),
}

fn invalid(message: String) -> ParseError {
    ParseError::Invalid(Some(message))
}

pub fn parse(args: &[String]) -> Result<Command, ParseError> {
    let Some((command, rest)) = args.split_first() else {
        return Err(ParseError::Invalid(None));
    };
    match command.as_str() {
        "help" | "-h" | "--help" => Err(ParseError::Help),
        "setup" => {
            let mut browser = false;
            for arg in rest {
                match arg.as_str() {
                    "--browser" => browser = true,
                    other => return Err(invalid(format!("unknown option '{other}' for 'setup'"))),
                }
            }
            Ok(Command::Setup { browser })
        }
        "dev" => match rest.first() {
            None => Ok(Command::Dev),
            Some(other) => Err(invalid(format!("unknown option '{other}' for 'dev'"))),
        },
        "test" => parse_test(rest).map(Command::Test),
        // Everything after `bench` belongs to the bench binary, flags included.
        "bench" => Ok(Command::Bench {
            args: rest.to_vec(),
        }),
        "sizes" => sizes::parse(rest).map(Command::Sizes).map_err(invalid),
        // Everything after `sim` belongs to the simulator.
        "sim" => Ok(Command::Sim {
            args: rest.to_vec(),
        }),
        "deploy" => deploy::parse_deploy(rest)
            .map(Command::Deploy)
            .map_err(invalid),
        "csp" => deploy::parse_csp(rest).map(Command::Csp).map_err(invalid),
        "hash-first-load" => match rest.first() {
            None => Ok(Command::HashFirstLoad),
            Some(other) => Err(invalid(format!(
                "unknown option '{other}' for 'hash-first-load'"
            ))),
        },
        other => Err(invalid(format!("unknown command '{other}'"))),
    }
}

fn parse_test(args: &[String]) -> Result<Selection, ParseError> {
    let mut selection = Selection::All;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let flag = arg.as_str();
        if flag != "--from" && flag != "--only" {
            return Err(invalid(format!("unknown option '{flag}' for 'test'")));
        }
        if selection != Selection::All {
            return Err(invalid(
                "give at most one of --from and --only to 'test'".to_string(),
            ));
        }
        let Some(stage) = args.next() else {
            return Err(invalid(format!("{flag} needs a stage name")));
        };
        if !STAGE_NAMES.contains(&stage.as_str()) {
            return Err(invalid(format!(
                "unknown stage '{stage}'; stages are: {}",
                STAGE_NAMES.join(", ")
            )));
        }
        selection = if flag == "--from" {
            Selection::From(stage.clone())
        } else {
            Selection::Only(stage.clone())
        };
    }
    Ok(selection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, ParseError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        parse(&args)
    }

    #[test]
    fn no_arguments_is_a_usage_error() {
        assert_eq!(parse_strs(&[]), Err(ParseError::Invalid(None)));
    }

    #[test]
    fn unknown_command_is_named() {
        assert_eq!(
            parse_strs(&["publish"]),
            Err(ParseError::Invalid(Some(
                "unknown command 'publish'".to_string()
            )))
        );
    }

    #[test]
    fn help_in_its_usual_spellings() {
        for spelling in ["help", "-h", "--help"] {
            assert_eq!(parse_strs(&[spelling]), Err(ParseError::Help));
        }
    }

    #[test]
    fn setup_with_and_without_browser() {
        assert_eq!(
            parse_strs(&["setup"]),
            Ok(Command::Setup { browser: false })
        );
        assert_eq!(
            parse_strs(&["setup", "--browser"]),
            Ok(Command::Setup { browser: true })
        );
        assert!(matches!(
            parse_strs(&["setup", "--chrome"]),
            Err(ParseError::Invalid(Some(_)))
        ));
    }

    #[test]
    fn dev_takes_no_options() {
        assert_eq!(parse_strs(&["dev"]), Ok(Command::Dev));
        assert!(matches!(
            parse_strs(&["dev", "--port"]),
            Err(ParseError::Invalid(Some(_)))
        ));
    }

    #[test]
    fn test_selections() {
        assert_eq!(parse_strs(&["test"]), Ok(Command::Test(Selection::All)));
        assert_eq!(
            parse_strs(&["test", "--from", "unit"]),
            Ok(Command::Test(Selection::From("unit".to_string())))
        );
        assert_eq!(
            parse_strs(&["test", "--only", "e2e"]),
            Ok(Command::Test(Selection::Only("e2e".to_string())))
        );
    }

    #[test]
    fn test_rejects_bad_selections() {
        for args in [
            &["test", "--from"][..],
            &["test", "--only", "lint"],
            &["test", "--from", "fmt", "--only", "e2e"],
            &["test", "--verbose"],
        ] {
            assert!(
                matches!(parse_strs(args), Err(ParseError::Invalid(Some(_)))),
                "{args:?} should be rejected"
            );
        }
    }

    #[test]
    fn deploy_and_csp() {
        assert!(matches!(
            parse_strs(&["deploy", "--dist", "dist", "--url", "https://example.com/"]),
            Ok(Command::Deploy(_))
        ));
        assert!(matches!(
            parse_strs(&["deploy", "--dist", "dist"]),
            Err(ParseError::Invalid(Some(_)))
        ));
        assert!(matches!(
            parse_strs(&["csp", "config.json"]),
            Ok(Command::Csp(_))
        ));
    }

    #[test]
    fn sim_passes_everything_through() {
        assert_eq!(
            parse_strs(&["sim", "--seed", "7", "--steps", "100"]),
            Ok(Command::Sim {
                args: vec!["--seed".into(), "7".into(), "--steps".into(), "100".into()]
            })
        );
    }

    #[test]
    fn bench_passes_everything_through() {
        assert_eq!(
            parse_strs(&["bench", "--runs", "5", "--help"]),
            Ok(Command::Bench {
                args: vec!["--runs".into(), "5".into(), "--help".into()]
            })
        );
    }
}
