// Markdown for model output, rendered safely: raw HTML is shown as text (never parsed into
// elements), links open in a new tab without access to this page, and images are not
// fetched (a model cannot make the browser call a URL) — they show as a link instead.

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

const components = {
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
