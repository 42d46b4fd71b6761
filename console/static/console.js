// Small enhancements only; every page works without script.
// On the report form, an anonymous report hides the identity fields (the server checks either way).
document.addEventListener("DOMContentLoaded", () => {
  const fields = document.getElementById("identity-fields");
  if (!fields) return;
  const anonymous = document.getElementById("p-anonymous");
  const sync = () => { fields.hidden = anonymous.checked; };
  document.querySelectorAll('input[name="identity"]').forEach((radio) => radio.addEventListener("change", sync));
  sync();
});
