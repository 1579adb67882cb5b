// Page probe (for page.wait_for_function): whether exactly n elements match the selector.
([selector, n]) => document.querySelectorAll(selector).length === n;
