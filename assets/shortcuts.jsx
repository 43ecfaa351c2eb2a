// Page-wide keyboard shortcuts that are not tied to one message: Ctrl+Shift+O (⌘⇧O on a
// Mac) starts a new chat and puts the cursor in the composer. Esc (stop) lives on each
// running answer in resilient_stream.jsx.

import { useEffect } from "react";

export function Shortcuts({ onNewChat }) {
  useEffect(() => {
    const onKey = (event) => {
      const modifier = event.ctrlKey || event.metaKey;
      if (modifier && event.shiftKey && event.key.toLowerCase() === "o") {
        event.preventDefault();
        if (onNewChat) onNewChat();
        const composer = document.querySelector('textarea[aria-label="Message"]');
        if (composer) composer.focus();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [onNewChat]);
  return null;
}
