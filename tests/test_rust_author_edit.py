"""A Rust render edited as its author would: the generated checks stay green, and it runs.

The author renders ``language=rust``, then replaces the sample: new protos (a nested message,
a repeated field, commented fields, unsigned integers), a non-streaming ``count_words`` and a
streaming ``split_lines`` with real logic, and their own short tests in place of the sample's
(the contract suite's line kept). The files below are written whole, as a user writes them.
Then ``cargo build``, ``cargo test``, ``cargo clippy --all-targets -- -D warnings`` and
``cargo fmt --check`` pass, the JSON Schemas carry the field comments, and the library runs
real jobs on the real server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.jobworkerp_server import JobWorkerP
from tests.native_support import VENDOR, cargo
from tests.rust_support import Crate, published_schemas, render_crate
from tests.v2_library import register, static_worker

pytestmark = pytest.mark.skipif(
    cargo() is None or not VENDOR.is_dir(), reason="needs cargo and ../shared/vendor"
)

SETTINGS_PROTO = """\
// Settings of the WordTools runner.
syntax = "proto3";
package word_tools;

message WordToolsSettings {
  // Words that count_words leaves out, in any case.
  repeated string stop_words = 1;
}
"""

COUNT_WORDS_ARGS = """\
// Arguments of count_words.
syntax = "proto3";
package word_tools;

message CountWordsArgs {
  // The text whose words are counted.
  string text = 1;
  // How many of the most frequent words to return;
  // 0 means all of them.
  uint32 top = 2;
}
"""

COUNT_WORDS_RESULT = """\
// Result of count_words.
syntax = "proto3";
package word_tools;

message CountWordsResult {
  // One word and how often it occurs.
  message Count {
    string word = 1;
    uint32 times = 2;
  }
  // The most frequent words first; ties in word order.
  repeated Count counts = 1;
  // How many words the text has, stop words included.
  uint64 total = 2;
}
"""

SPLIT_LINES_ARGS = """\
// Arguments of split_lines.
syntax = "proto3";
package word_tools;

message SplitLinesArgs {
  // The text to split into lines.
  string text = 1;
}
"""

SPLIT_LINES_RESULT = """\
// A chunk of split_lines: one line; the last chunk also has all of them.
syntax = "proto3";
package word_tools;

message SplitLinesResult {
  // A line and its number, from 1.
  message Line {
    uint32 number = 1;
    string text = 2;
  }
  // The line this chunk brings.
  Line line = 1;
  // Every line: set on the last chunk only.
  repeated Line lines = 2;
}
"""

RUNNER = """\
//! The WordTools runner: counts a text's words and streams its lines.

use crate::framework::{Chunks, Job, Method, MethodTable, Runner};
use crate::protos::count_words_result::Count;
use crate::protos::split_lines_result::Line;
use crate::protos::{
    CountWordsArgs, CountWordsResult, SplitLinesArgs, SplitLinesResult, WordToolsSettings,
};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub struct WordToolsRunner {
    stop_words: HashSet<String>,
}

const NAME: &str = "WordTools";
const DESCRIPTION: &str = "Counts the words of a text and streams its lines.";

impl Runner for WordToolsRunner {
    type Settings = WordToolsSettings;

    fn load(settings: WordToolsSettings) -> Result<Self, String> {
        let stop_words = settings.stop_words.iter().map(|w| w.to_lowercase());
        Ok(Self {
            stop_words: stop_words.collect(),
        })
    }

    fn methods() -> MethodTable<Self> {
        MethodTable::new(NAME, DESCRIPTION)
            .method(
                Method::<Self, CountWordsArgs, CountWordsResult>::new(
                    "count_words",
                    "count_words: the most frequent words of a text, without the stop words.",
                )
                .answer(count_words),
            )
            .method(
                Method::<Self, SplitLinesArgs, SplitLinesResult>::new(
                    "split_lines",
                    "split_lines: a text's lines one by one; the last chunk has them all.",
                )
                .stream_with_job(split_lines),
            )
    }
}

/// The words of `text` (lowercased, stop words left out), most frequent first, and how many
/// words it has in all.
pub fn counts(text: &str, stop_words: &HashSet<String>) -> (Vec<Count>, u64) {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect();
    let mut times: BTreeMap<&str, u32> = BTreeMap::new();
    for word in words.iter().filter(|word| !stop_words.contains(*word)) {
        *times.entry(word).or_default() += 1;
    }
    let mut counts: Vec<Count> = times
        .into_iter()
        .map(|(word, times)| Count {
            word: word.to_string(),
            times,
        })
        .collect();
    counts.sort_by(|a, b| b.times.cmp(&a.times).then_with(|| a.word.cmp(&b.word)));
    (counts, words.len() as u64)
}

async fn count_words(
    runner: Arc<WordToolsRunner>,
    args: CountWordsArgs,
) -> Result<CountWordsResult, String> {
    let (mut counts, total) = counts(&args.text, &runner.stop_words);
    if args.top > 0 {
        counts.truncate(args.top as usize);
    }
    Ok(CountWordsResult { counts, total })
}

async fn split_lines(
    _runner: Arc<WordToolsRunner>,
    args: SplitLinesArgs,
    chunks: Chunks<SplitLinesResult>,
    job: Job,
) -> Result<(), String> {
    let lines: Vec<Line> = (1..)
        .zip(args.text.lines())
        .map(|(number, text)| Line {
            number,
            text: text.to_string(),
        })
        .collect();
    let Some((last, first)) = lines.split_last() else {
        return chunks.send(SplitLinesResult::default()).await;
    };
    for line in first {
        if job.is_cancelled() {
            return Err("cancelled".to_string());
        }
        let chunk = SplitLinesResult {
            line: Some(line.clone()),
            lines: Vec::new(),
        };
        chunks.send(chunk).await?;
    }
    let line = Some(last.clone());
    chunks.send(SplitLinesResult { line, lines }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_counted_without_case_and_stop_words() {
        let stop = HashSet::from(["a".to_string()]);
        let (counts, total) = counts("A rose, a Rose; a rose!", &stop);
        assert_eq!(total, 6);
        let rose = Count {
            word: "rose".to_string(),
            times: 3,
        };
        assert_eq!(counts, [rose]);
    }
}
"""

AUTHOR_TESTS = """\
//! The word tools, as jobs see them.

use word_tools::framework::contract::{Contract, Host};
use word_tools::protos::count_words_result::Count;
use word_tools::protos::{
    CountWordsArgs, CountWordsResult, SplitLinesArgs, SplitLinesResult, WordToolsSettings,
};
use word_tools::runner::WordToolsRunner as Runner;

#[test]
fn the_plugin_keeps_the_v2_contract() {
    Contract::<Runner>::new().check();
}

async fn loaded(stop_words: &[&str]) -> Host<Runner> {
    let stop_words = stop_words.iter().map(|word| word.to_string()).collect();
    let settings = WordToolsSettings { stop_words };
    Host::load(&settings).await.expect("load")
}

#[tokio::test]
async fn count_words_gives_the_top_words_without_the_stop_words() {
    let mut host = loaded(&["the"]).await;
    let args = CountWordsArgs {
        text: "The cat saw the other cat".to_string(),
        top: 1,
    };
    let result: CountWordsResult = host.run("count_words", &args).await.expect("counts");
    assert_eq!(result.total, 6);
    let cat = Count {
        word: "cat".to_string(),
        times: 2,
    };
    assert_eq!(result.counts, [cat]);
}

#[tokio::test]
async fn split_lines_streams_each_line_and_all_of_them_last() {
    let mut host = loaded(&[]).await;
    let args = SplitLinesArgs {
        text: "one\\ntwo\\nthree".to_string(),
    };
    let chunks: Vec<SplitLinesResult> = host.stream("split_lines", &args).await.expect("lines");
    let line = |chunk: &SplitLinesResult| chunk.line.clone().unwrap_or_default().text;
    let texts: Vec<String> = chunks.iter().map(line).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    let last = chunks.last().expect("a chunk");
    assert_eq!(last.lines.len(), 3);
    assert_eq!(last.lines[2].number, 3);
}
"""


def author_edit(project: Path) -> None:
    """What the author changes: protos, runner, tests; the sample's files go."""
    protos = project / "protos"
    for sample in protos.glob("run_*.proto"):
        sample.unlink()
    (project / "tests" / "soak.rs").unlink()
    files = {
        "protos/settings.proto": SETTINGS_PROTO,
        "protos/count_words_args.proto": COUNT_WORDS_ARGS,
        "protos/count_words_result.proto": COUNT_WORDS_RESULT,
        "protos/split_lines_args.proto": SPLIT_LINES_ARGS,
        "protos/split_lines_result.proto": SPLIT_LINES_RESULT,
        "src/runner.rs": RUNNER,
        "tests/plugin.rs": AUTHOR_TESTS,
    }
    for name, text in files.items():
        (project / name).write_text(text, "utf-8")


@pytest.fixture(scope="module")
def edited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crate]:
    crate = render_crate(tmp_path_factory.mktemp("rust-edit"), plugin_name="Word Tools")
    author_edit(crate.project)
    crate.cargo("build")
    yield crate


def test_the_edited_crate_passes_the_generated_checks(edited: Crate) -> None:
    printed = edited.output("test")
    for name in (
        "the_plugin_keeps_the_v2_contract",
        "count_words_gives_the_top_words_without_the_stop_words",
        "split_lines_streams_each_line_and_all_of_them_last",
        "every_method_runs_through_the_ffi_layer",
        "runner::tests::words_are_counted_without_case_and_stop_words",
    ):
        assert f"test {name} ... ok" in printed, (name, printed)
    edited.lint()


def test_the_schemas_carry_the_field_comments_and_unsigned_minimums(
    edited: Crate, tmp_path: Path
) -> None:
    published = published_schemas(edited)
    schemas = {"settings": json.loads(published["settings_schema"])}
    for method, texts in published["json_schemas"].items():
        schemas[f"{method} args"] = json.loads(texts["args_schema"])
        schemas[f"{method} result"] = json.loads(texts["result_schema"])
    stop_words = schemas["settings"]["properties"]["stop_words"]
    assert stop_words == {
        "type": "array",
        "items": {"type": "string"},
        "description": "Words that count_words leaves out, in any case.",
    }
    top = schemas["count_words args"]["properties"]["top"]
    assert top == {
        "type": "integer",
        "minimum": 0,
        "description": "How many of the most frequent words to return; 0 means all of them.",
    }
    assert list(top) == ["type", "minimum", "description"]
    result = schemas["count_words result"]["properties"]
    assert result["total"] == {
        "type": "string",
        "pattern": "^[0-9]+$",
        "format": "uint64",
        "minimum": 0,
        "description": "How many words the text has, stop words included.",
    }
    count = result["counts"]["items"]["properties"]
    assert count["times"] == {"type": "integer", "minimum": 0}, "no comment, no description"
    line_schema = schemas["split_lines result"]["properties"]["line"]
    assert line_schema["description"] == "The line this chunk brings."
    assert list(line_schema) == ["type", "properties", "additionalProperties", "description"]


def test_the_edited_plugin_runs_real_jobs_on_the_real_server(
    jobworkerp: JobWorkerP, edited: Crate, tmp_path: Path
) -> None:
    runner = register(jobworkerp, edited.library, tmp_path, "WordToolsEdited")
    worker = static_worker(jobworkerp, runner, "word-tools", {"stop_words": ["the"]})
    counted = worker.call({"text": "The cat saw the other cat", "top": 2}, "count_words")
    assert counted.status == "SUCCESS", counted
    assert counted.result == {
        "counts": [{"word": "cat", "times": 2}, {"word": "other", "times": 1}],
        "total": "6",
    }, counted
    streamed = worker.stream({"text": "one\ntwo"}, "split_lines")
    assert streamed.status == "SUCCESS", streamed
    assert streamed.chunks is not None
    assert [chunk["line"]["text"] for chunk in streamed.chunks] == ["one", "two"]
    assert [line["text"] for line in streamed.chunks[-1]["lines"]] == ["one", "two"]
