// Copy buttons: hidden without script; with it, each [data-copy] button
// copies the text of the element whose id it names.
for (const button of document.querySelectorAll("button[data-copy]")) {
  const source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    const text = [...source.querySelectorAll("code")].map((c) => c.textContent).join("\n") || source.textContent;
    try {
      await navigator.clipboard.writeText(text.trim());
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed: select the text";
    }
    setTimeout(() => (button.textContent = "Copy"), 2000);
  });
}
