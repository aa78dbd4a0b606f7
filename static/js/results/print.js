// The publicity page's print button (no inline scripts under the CSP).
const button = document.getElementById("print-btn");
if (button) button.addEventListener("click", () => window.print());
