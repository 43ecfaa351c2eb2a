// Markdown for model output, rendered safely: raw HTML is shown as text (never parsed into
// elements), links open in a new tab without access to this page, and images are not
// fetched (a model cannot make the browser call a URL) — they show as a link instead.

import { useState } from "react";
import ReactMarkdown from "react-markdown";
import remarkGfm from "remark-gfm";

// remark plugin: turn raw HTML nodes into plain text nodes.
function htmlAsText() {
  const walk = (node) => {
    if (node.type === "html") node.type = "text";
    if (node.children) node.children.forEach(walk);
  };
  return (tree) => walk(tree);
}

// A code block with a Copy button that copies exactly the code (no fences, no language tag).
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

export function AnswerMarkdown({ text }) {
  return (
    <ReactMarkdown remarkPlugins={[remarkGfm, htmlAsText]} components={components}>
      {text}
    </ReactMarkdown>
  );
}
