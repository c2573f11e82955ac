#!/usr/bin/env python3
"""Import circles between module files of each crate: pairs of files that name each other
through `crate::` or `super::` paths, outside comments and `#[cfg(test)]` code."""
import pathlib,re,sys
root=pathlib.Path('crates')
for crate in sorted(p for p in root.iterdir() if (p/'src').is_dir()):
    files={}
    for f in (crate/'src').rglob('*.rs'):
        rel=f.relative_to(crate/'src').with_suffix('')
        parts=list(rel.parts)
        if parts[-1] in ('lib','main','mod'): parts=parts[:-1]
        files['::'.join(parts)]=f
    def resolve(cur, path):
        # path: list of segments after crate:: or super::
        for k in range(len(path),0,-1):
            cand='::'.join(path[:k])
            if cand in files: return cand
        return ''
    edges={}
    for name,f in files.items():
        text=f.read_text()
        i=text.find('#[cfg(test)]')
        if i>=0: text=text[:i]
        text='\n'.join(l for l in text.split('\n') if not l.strip().startswith('//'))
        deps=set()
        cur=name.split('::') if name else []
        for m in re.finditer(r'\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)',text):
            segs=m.group(2).strip(':').split('::')
            if m.group(1)=='crate': base=[]
            else:
                # super relative to module: for mod.rs/lib files name is the module itself
                is_modfile=f.name in ('mod.rs','lib.rs','main.rs')
                base=cur[:-1] if not is_modfile else cur[:-1]
                if not is_modfile: base=cur[:-1]
            tgt=resolve(cur, base+segs)
            if tgt!=name and (tgt or (base+segs)):
                deps.add(tgt)
        edges[name]=deps
    seen=set()
    for a,ds in edges.items():
        for b in ds:
            if a in edges.get(b,()) and (b,a) not in seen:
                seen.add((a,b)); print(crate.name, a or '(root)','<->',b or '(root)')
