// Markdown for model output, rendered safely: raw HTML is shown as text (never parsed into
// elements), links open in a new tab without access to this page, and images are not
// fetched (a model cannot make the browser call a URL) — they show as a link instead.
// Fenced code with a language tag is highlighted into hast spans (never HTML strings).
//
// While an answer streams, only its last block is parsed and rendered again: the text is cut
// into top-level blocks (markdown_blocks.js), and a finished block is the same string on every
// update, so its memoised component is skipped.

import { memo, useState } from "react";
import ReactMarkdown from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import remarkGfm from "remark-gfm";
import { blockSplitter } from "./markdown_blocks.js";

// remark plugin: turn raw HTML nodes into plain text nodes.
function htmlAsText() {
  const walk = (node) => {
    if (node.type === "html") node.type = "text";
    if (node.children) node.children.forEach(walk);
  };
  return (tree) => walk(tree);
}

// A code block with a Copy button that copies exactly the code: no fences, no language tag,
// no highlighting markup (the text of the code element, through its spans).
function CodeBlock({ node, children, ...props }) {
  const [copied, setCopied] = useState(false);
  const code = node && node.children && node.children[0] ? textOf(node.children[0]) : "";
  const copy = () =>
    copyText(code).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    });
  return (
    <div className="ub-code">
      <button type="button" className="ub-button ub-copy-code" aria-label="Copy code" onClick={copy}>
        {copied ? "Copied" : "Copy"}
      </button>
      <pre {...props}>{children}</pre>
    </div>
  );
}

function textOf(hast) {
  if (hast.type === "text") return hast.value;
  return (hast.children || []).map(textOf).join("");
}

export function copyText(text) {
  if (navigator.clipboard && navigator.clipboard.writeText) return navigator.clipboard.writeText(text);
  return Promise.reject(new Error("no clipboard"));
}

const components = {
  pre: CodeBlock,
  a: ({ node, ...props }) => <a {...props} target="_blank" rel="noopener noreferrer" />,
  img: ({ node, src, alt }) => (
    <a href={src} target="_blank" rel="noopener noreferrer" className="ub-image-link">
      {`[image: ${alt || src || "untitled"}]`}
    </a>
  ),
};

const remarkPlugins = [remarkGfm, htmlAsText];
// No guessing a language for untagged code; an unknown tag is left plain (a warning on the
// file, not an exception, in rehype-highlight 7). Built once: react-markdown applies its
// plugins on every render, and rehype-highlight makes a new highlighter (registering every
// grammar, compiling them again at first use) each time it is applied — per token, for the
// block still streaming.
const highlight = rehypeHighlight({ detect: false });
const rehypePlugins = [() => highlight];

const Block = memo(function Block({ text }) {
  return (
    <ReactMarkdown remarkPlugins={remarkPlugins} rehypePlugins={rehypePlugins} components={components}>
      {text}
    </ReactMarkdown>
  );
});

export function AnswerMarkdown({ text }) {
  // Kept across renders: each update reads only the answer's new lines.
  const [split] = useState(() => blockSplitter());
  return (
    <div className="ub-markdown">
      {split(text).map((block, i) => (
        <Block key={i} text={block} />
      ))}
    </div>
  );
}
