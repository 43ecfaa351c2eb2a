// Splitting an answer into top-level markdown blocks: exact pieces, never a block that
// markdown carries across blank lines, and finished blocks that never change while it streams.
// (That the blocks render like the whole text needs react-markdown, which these dependency-free
// tests do not load; the cases below were rendered both ways when they were written.)
import test from "node:test";
import assert from "node:assert/strict";
import { blockSplitter, splitBlocks } from "../../assets/markdown_blocks.js";

const lines = (...rows) => rows.join("\n");

// A small seeded generator (mulberry32), so a failing random case can be replayed.
function seededRandom(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Lines that exercise every rule, in random order (no definitions: they merge blocks on purpose).
const PIECES = [
  "", "", "", "Some text.", "more *text*", "# Heading", "===", "---", "```", "```python", "````",
  "~~~", "~~~~ js", "  ```", "    indented code", "  continued", "\t tabbed", "- item", "* item",
  "+ item", "1. first", "2) second", "10. tenth", "> quote", "| a | b |", "|---|---|", "| 1 | 2 |",
  "<!--", "-->", "<script>", "</script>", "<pre>x</pre>", "<div>", "<?php", "?>", "``` a`b", " \r",
  "   ```", "1. ```js", "- ```", "  * x", "-", "* * *", "<br>", "<x a=\"1\">", "> ```", "> text",
];

function randomText(random) {
  const rows = [];
  const count = Math.floor(random() * 30);
  for (let i = 0; i < count; i++) rows.push(PIECES[Math.floor(random() * PIECES.length)]);
  return rows.join(random() < 0.2 ? "\r\n" : "\n") + (random() < 0.5 ? "\n" : "");
}

const SAMPLES = [
  "",
  "one line",
  "one line\n",
  "\n\n\n",
  lines("Para one.", "", "Para two.", "", "", "Para three."),
  lines("```js", "a", "", "b", "```", "", "after"),
  lines("~~~", "", "~~~", "", "x"),
  lines("1. a", "", "2. b", "", "3. c"),
  lines("| a | b |", "|---|---|", "| 1 | 2 |", "", "after"),
  lines("    code", "", "    more code", "", "text"),
  lines("<!--", "", "still a comment", "-->", "", "text"),
];

const RANDOM_TEXTS = (() => {
  const random = seededRandom(20240611);
  return Array.from({ length: 300 }, () => randomText(random));
})();

test("the blocks put together are exactly the text", () => {
  for (const text of [...SAMPLES, ...RANDOM_TEXTS]) {
    const blocks = splitBlocks(text);
    assert.equal(blocks.join(""), text, JSON.stringify(text));
    assert.ok(blocks.every((block) => block.length > 0), JSON.stringify(text));
  }
});

const CASES = [
  {
    name: "paragraphs split after their blank lines",
    text: lines("First.", "", "Second,", "still second.", "", "", "# Third", "Fourth"),
    blocks: ["First.\n\n", "Second,\nstill second.\n\n\n", "# Third\nFourth"],
  },
  {
    name: "a fence with blank lines stays whole",
    text: lines("```python", "def f():", "", "    return 1", "", "```", "", "After.", ""),
    blocks: ["```python\ndef f():\n\n    return 1\n\n```\n\n", "After.\n"],
  },
  {
    name: "a tilde fence is not closed by backticks",
    text: lines("~~~", "a", "", "```", "", "~~~", "", "After.", ""),
    blocks: ["~~~\na\n\n```\n\n~~~\n\n", "After.\n"],
  },
  {
    name: "a closing fence must be at least as long as the opening one",
    text: lines("````", "```", "", "still code", "`````", "", "After.", ""),
    blocks: ["````\n```\n\nstill code\n`````\n\n", "After.\n"],
  },
  {
    name: "a fence indented 4 spaces does not close",
    text: lines("```", "    ```", "", "code", "```", "", "After.", ""),
    blocks: ["```\n    ```\n\ncode\n```\n\n", "After.\n"],
  },
  {
    name: "backticks with a backtick in the info string are not a fence",
    text: lines("``` a`b", "", "After.", ""),
    blocks: ["``` a`b\n\n", "After.\n"],
  },
  {
    name: "an unclosed fence runs to the end",
    text: lines("Intro.", "", "```", "a", "", "b", "", "c"),
    blocks: ["Intro.\n\n", "```\na\n\nb\n\nc"],
  },
  {
    name: "a loose list stays one list",
    text: lines("1. one", "", "2. two", "", "   more of two", "", "3. three", "", "After.", ""),
    blocks: ["1. one\n\n2. two\n\n   more of two\n\n3. three\n\n", "After.\n"],
  },
  {
    name: "a bullet list with blank lines between items stays one list",
    text: lines("Intro:", "", "- a", "", "- b", "", "* c"),
    blocks: ["Intro:\n\n", "- a\n\n- b\n\n* c"],
  },
  {
    name: "a list after a paragraph ends the paragraph's block",
    text: lines("Para.", "", "1) a", "", "Para.", ""),
    blocks: ["Para.\n\n", "1) a\n\n", "Para.\n"],
  },
  {
    name: "a table is one block",
    text: lines("| a | b |", "|---|---|", "| 1 | 2 |", "| 3 | 4 |", "", "After.", ""),
    blocks: ["| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n\n", "After.\n"],
  },
  {
    name: "indented code continues after a blank line",
    text: lines("    a = 1", "", "    b = 2", "", "After.", ""),
    blocks: ["    a = 1\n\n    b = 2\n\n", "After.\n"],
  },
  {
    name: "an HTML comment with blank lines stays whole",
    text: lines("<!--", "", "x", "-->", "", "After.", ""),
    blocks: ["<!--\n\nx\n-->\n\n", "After.\n"],
  },
  {
    name: "a script element closed on its line does not hold the next blocks",
    text: lines("<script>alert(1)</script>", "", "After.", ""),
    blocks: ["<script>alert(1)</script>\n\n", "After.\n"],
  },
  {
    name: "a fence in a list item keeps its blank lines, and the list goes on",
    text: lines("1. Install:", "", "   ```bash", "   pip install x", "", "   x --help", "   ```", "", "2. Run.", "",
      "After.", ""),
    blocks: ["1. Install:\n\n   ```bash\n   pip install x\n\n   x --help\n   ```\n\n2. Run.\n\n", "After.\n"],
  },
  {
    name: "a fence on an item's line ends with the item, not at the next fence line",
    text: lines("- ```sh", "  ls", "  ```", "", "```", "a", "", "b", "```", "", "After.", ""),
    blocks: ["- ```sh\n  ls\n  ```\n\n", "```\na\n\nb\n```\n\n", "After.\n"],
  },
  {
    name: "an unclosed fence in a list item holds the next block, whose blank lines it would take",
    text: lines("- ```", "  code", "", "After.", ""),
    blocks: ["- ```\n  code\n\nAfter.\n"],
  },
  {
    name: "a fence indented under a lazy line stays in the item",
    text: lines("1. text", "lazy text", "   ```", "   a", "", "b", "   ```", "", "After.", ""),
    blocks: ["1. text\nlazy text\n   ```\n   a\n\nb\n   ```\n\nAfter.\n"],
  },
  {
    name: "a fence after a list's end is top-level, even indented",
    text: lines("- a", "", "Para.", "  ```", "x", "", "y", "  ```", "", "After.", ""),
    blocks: ["- a\n\n", "Para.\n  ```\nx\n\ny\n  ```\n\n", "After.\n"],
  },
  {
    name: "fence lines inside an HTML block are HTML",
    text: lines("<div>", "```", "", "```", "a", "", "b", "```", "", "After.", ""),
    blocks: ["<div>\n```\n\n", "```\na\n\nb\n```\n\n", "After.\n"],
  },
  {
    name: "a thematic break of stars is not a list item",
    text: lines("* * *", "  ```", "", "x", "  ```", "", "After.", ""),
    blocks: ["* * *\n  ```\n\nx\n  ```\n\n", "After.\n"],
  },
  {
    name: "a dash under a paragraph is an underline, not a list",
    text: lines("Title", "-", "  ```", "", "x", "  ```", "", "After.", ""),
    blocks: ["Title\n-\n  ```\n\nx\n  ```\n\n", "After.\n"],
  },
  {
    name: "an empty item followed by a blank line is closed",
    text: lines("-", "", "  ```", "", "x", "  ```", "", "After.", ""),
    blocks: ["-\n\n  ```\n\nx\n  ```\n\n", "After.\n"],
  },
  {
    name: "a list numbered from 2 after indented code stays with it (micromark reads it as text)",
    text: lines("    code", "", "2. two", ""),
    blocks: ["    code\n\n2. two\n"],
  },
  {
    name: "a link definition keeps the text whole, since any block may use it",
    text: lines("See [the docs][d].", "", "Other.", "", "[d]: https://example.com", ""),
    blocks: ["See [the docs][d].\n\nOther.\n\n[d]: https://example.com\n"],
    merges: true,
  },
  {
    name: "so does a footnote definition",
    text: lines("A claim.[^1]", "", "More.", "", "- [^1]: A source, in a list item.", ""),
    blocks: ["A claim.[^1]\n\nMore.\n\n- [^1]: A source, in a list item.\n"],
    merges: true,
  },
  {
    name: "a line after a blank one is a block only once it is complete",
    text: "Para.\n\nNext",
    blocks: ["Para.\n\nNext"],
  },
  {
    name: "CRLF blank lines split too",
    text: "A.\r\n\r\nB.",
    blocks: ["A.\r\n\r\nB."],
  },
  {
    name: "CRLF blank lines split before a complete line",
    text: "A.\r\n\r\nB.\r\n",
    blocks: ["A.\r\n\r\n", "B.\r\n"],
  },
];

for (const { name, text, blocks } of CASES) {
  test(name, () => assert.deepEqual(splitBlocks(text), blocks));
}

// Streamed char by char, every block but the last is final: later text never changes it.
function assertFinishedBlocksNeverChange(text) {
  const full = splitBlocks(text);
  for (let end = 0; end <= text.length; end++) {
    const blocks = splitBlocks(text.slice(0, end));
    for (let i = 0; i < blocks.length - 1; i++) {
      assert.equal(blocks[i], full[i], `${JSON.stringify(text)} at ${end}, block ${i}`);
    }
  }
}

test("finished blocks never change while the text streams", () => {
  const cases = CASES.filter((c) => !c.merges).map((c) => c.text);
  for (const text of [...SAMPLES, ...cases, ...RANDOM_TEXTS]) {
    assertFinishedBlocksNeverChange(text);
  }
});

test("a setext underline cannot reach a finished block", () => {
  // "===" turns the line above it into a heading, but only the line right above: after a
  // blank line it is a paragraph of its own, so the block before the blank stays final.
  const text = lines("Para.", "", "Title", "===", "", "===", "");
  assertFinishedBlocksNeverChange(text);
  assert.deepEqual(splitBlocks(text), ["Para.\n\n", "Title\n===\n\n", "===\n"]);
});

test("a line after blank ones is read only once complete: \"1\" may become an item", () => {
  // "1" alone could be a paragraph; the split waits for the whole line, which is "1. b".
  assertFinishedBlocksNeverChange(lines("1. a", "", "1. b", ""));
  assert.deepEqual(splitBlocks(lines("1. a", "", "1")), ["1. a\n\n1"]);
});

test("a definition arriving later merges the finished blocks back (the one exception)", () => {
  const before = splitBlocks(lines("Use [x].", "", "Then.", "", ""));
  assert.deepEqual(before, ["Use [x].\n\n", "Then.\n\n"]);
  const after = splitBlocks(lines("Use [x].", "", "Then.", "", "[x]: https://example.com", ""));
  assert.equal(after.length, 1);
});

test("a splitter kept across a stream splits each text as splitBlocks does", () => {
  const random = seededRandom(7);
  const cases = CASES.map((c) => c.text);
  const merging = lines("Use [x].", "", "Then.", "", "[x]: https://example.com", "", "More.", "");
  for (const text of [...SAMPLES, ...cases, ...RANDOM_TEXTS, merging]) {
    const split = blockSplitter();
    for (let end = 0; end < text.length; end += 1 + Math.floor(random() * 8)) {
      assert.deepEqual(split(text.slice(0, end)), splitBlocks(text.slice(0, end)), `${JSON.stringify(text)} at ${end}`);
    }
    assert.deepEqual(split(text), splitBlocks(text), JSON.stringify(text));
  }
});

test("a splitter given a text that does not extend the last one starts afresh", () => {
  const split = blockSplitter();
  split(lines("```", "code", "", "more", ""));
  assert.deepEqual(split(lines("Para.", "", "Next.", "")), ["Para.\n\n", "Next.\n"]);
  split(lines("[x]: https://example.com", "", "Text.", ""));
  assert.deepEqual(split(lines("Para.", "", "Next.", "")), ["Para.\n\n", "Next.\n"]);
});

test("a 40 KB answer splits fast enough to do on every token", () => {
  const paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(4) + "\n\n";
  const fence = "```js\nconst x = 1;\n\nconsole.log(x);\n```\n\n";
  const text = (paragraph + fence).repeat(Math.ceil(40_000 / (paragraph.length + fence.length)));
  const started = performance.now();
  for (let i = 0; i < 100; i++) splitBlocks(text);
  const perCallMs = (performance.now() - started) / 100;
  assert.ok(perCallMs < 10, `${perCallMs.toFixed(2)} ms per 40 KB split`);
  assert.equal(splitBlocks(text).length, 2 * Math.ceil(40_000 / (paragraph.length + fence.length)));
});
